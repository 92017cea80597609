/**
 * `relay-audit explain`: reads a probe report (a file, or `-` for standard input, so that
 * `probe --json | explain --report -` runs both) and the sendmail files, predicts every address
 * involved, and prints the join. The IO edge of explain/explain.ts.
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UserError, errorMessage, writeJson, type CliIo } from '@toolbox/shared';
import {
  addressesOf,
  clientFacts,
  explainExitCode,
  explainObservation,
  formatExplainText,
  inferExtDomain,
  mxPointsHere,
  parseProbeReport,
  type ClientFacts,
  type Explanation,
} from '../explain/explain.js';
import { loadAudit, type ConfigFiles } from '../config/load-config.js';
import { EXIT_INCONCLUSIVE } from './probe-command.js';

export interface ExplainCommandOptions extends ConfigFiles {
  /** The JSON `probe --json` printed; `-` reads standard input. */
  report: string;
  /** Default: the domain the probes' recipients name. */
  extDomain?: string;
  json: boolean;
}

/** A report larger than this is not one `probe --json` writes. */
const MAX_REPORT_BYTES = 256 << 20;

async function readStdin(stdin: Readable & { isTTY?: boolean }): Promise<string> {
  if (stdin.isTTY === true)
    throw new UserError(
      'E_REPORT',
      "--report -: standard input is a terminal; pipe the probe's JSON in (relay-audit probe … --json | relay-audit explain --report - …) or name a file",
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_REPORT_BYTES)
      throw new UserError('E_REPORT', `--report -: more than ${MAX_REPORT_BYTES >> 20} MiB on standard input; that is not a probe report`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readReport(path: string, stdin: Readable): Promise<string> {
  if (path === '-') return readStdin(stdin);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError('E_REPORT', `cannot read the probe report ${path}: ${errorMessage(err)}`);
  }
}

export async function runExplainCommand(opts: ExplainCommandOptions, io: CliIo, stdin: Readable): Promise<Explanation> {
  if (opts.extDomain !== undefined && !/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?$/.test(opts.extDomain)) {
    throw new UserError('E_EXT_DOMAIN', `--ext-domain '${opts.extDomain}' is not a domain name`);
  }
  const observation = parseProbeReport(await readReport(opts.report, stdin), opts.report === '-' ? 'standard input' : opts.report);
  const { audit, resolver } = await loadAudit(opts, []);
  const extDomain = opts.extDomain ?? inferExtDomain(observation) ?? 'relay-check.example';
  const mxHere = await mxPointsHere(audit.model, extDomain, resolver);
  const facts = new Map<string, ClientFacts>();
  for (const ip of addressesOf(observation)) facts.set(ip, await clientFacts(audit, ip, extDomain, mxHere, resolver));
  const explanation = explainObservation(observation, audit, facts, extDomain);
  if (opts.json) writeJson(io.stdout, explanation);
  else io.stdout.write(formatExplainText(explanation));
  io.setExitCode(explainExitCode(explanation, EXIT_INCONCLUSIVE));
  return explanation;
}
