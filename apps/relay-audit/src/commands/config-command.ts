/**
 * `relay-audit config`: reads the files, audits, prints grants and findings, and (with --client)
 * predicts the relay verdict each client address gets — what `probe` from there should observe.
 */
import net from 'node:net';
import { UserError, parseCidr, printable, writeJson, type CliIo } from '@toolbox/shared';
import { loadAudit, type ConfigFiles } from '../config/load-config.js';
import { predict, type Prediction } from '../config/sendmail-config.js';

export interface ConfigCommandOptions extends ConfigFiles {
  own: string[];
  client: string[];
  extDomain: string;
  json: boolean;
  timeout: number;
}

function checkCidr(c: string): string {
  const cidr = parseCidr(c);
  if (cidr === null) throw new UserError('E_OWN', `--own '${c}' is not a CIDR (10.1.0.0/16, 2001:db8::/48)`);
  return cidr.text;
}

export async function runConfigCommand(opts: ConfigCommandOptions, io: CliIo): Promise<void> {
  const own = opts.own.map(checkCidr);
  for (const c of opts.client) if (net.isIP(c) === 0) throw new UserError('E_CLIENT', `--client '${c}' is not an IP address`);
  const { audit, resolver } = await loadAudit(opts, own);
  const predictions: Prediction[] = [];
  for (const c of opts.client) predictions.push(await predict(audit.model, c, opts.extDomain, resolver));
  const exit = audit.reachesBeyond ? 1 : 0;
  if (opts.json) {
    writeJson(io.stdout, {
      mc: opts.mc,
      features: audit.features,
      grants: audit.grants,
      findings: audit.findings,
      reaches_beyond_own: audit.reachesBeyond,
      ...(predictions.length > 0 ? { predictions } : {}),
    });
  } else {
    const out: string[] = ['who may relay:'];
    for (const g of audit.grants) {
      out.push(
        `  ${g.kind.padEnd(19)} ${g.value}  (${g.from})${g.resolves_to ? ` → ${g.resolves_to.length > 0 ? g.resolves_to.join(', ') : 'no address'}` : ''}${g.note ? `; ${g.note}` : ''}`,
      );
    }
    out.push(audit.findings.length === 0 ? 'findings: none' : 'findings:');
    for (const f of audit.findings) out.push(`  ${f.code} [${f.severity}] ${f.message} (${f.from})`, `    fix: ${f.fix}`);
    for (const p of predictions)
      out.push(`client ${p.client}${p.name ? ` (${p.name})` : ''}: ${p.relays ? 'RELAYS' : 'denied'} — ${p.why}`);
    // names from DNS and keys from the files reach the terminal escaped
    io.stdout.write(`${out.map(printable).join('\n')}\n`);
  }
  io.setExitCode(exit);
}
