/**
 * `mx-check hosts`: prints the loopback aliases of a hosts file; exit 1 when one would cut off
 * something that matters.
 */
import { readFile } from 'node:fs/promises';
import { ExitCode, parseHostsFile, printable, UserError, writeJson, type CliIo } from '@toolbox/shared';
import { loopbackAliases, readHostsContext, type HostsContext } from '../check/hosts.js';

export interface HostsCommandOptions {
  hostsFile: string;
  resolvConf: string;
  json: boolean;
}

export async function runHosts(opts: HostsCommandOptions, io: CliIo, context?: HostsContext): Promise<void> {
  let text: string;
  try {
    text = await readFile(opts.hostsFile, 'utf8');
  } catch (err) {
    throw new UserError('E_HOSTS', `cannot read ${opts.hostsFile}: ${(err as Error).message}`);
  }
  const ctx = context ?? (await readHostsContext(opts.resolvConf));
  const aliases = loopbackAliases(parseHostsFile(text), ctx);
  if (opts.json) {
    writeJson(io.stdout, { hostsFile: opts.hostsFile, aliases });
  } else if (aliases.length === 0) {
    io.stdout.write(`${opts.hostsFile}: no name is aliased to loopback besides the standard localhost names\n`);
  } else {
    io.stdout.write(`${'LINE'.padEnd(6)}${'ADDRESS'.padEnd(18)}NAME\n`);
    for (const a of aliases) {
      io.stdout.write(`${String(a.line).padEnd(6)}${printable(a.address).padEnd(18)}${printable(a.name)}\n`);
      for (const w of a.warnings) io.stdout.write(`      warning: ${printable(w)}\n`);
    }
  }
  if (aliases.some((a) => a.warnings.length > 0)) io.setExitCode(ExitCode.Findings);
}
