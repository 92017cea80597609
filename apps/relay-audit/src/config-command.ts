/**
 * `relay-audit config`: reads the files, audits, prints grants and findings, and (with --client)
 * predicts the relay verdict each client address gets — what `probe` from there should observe.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { UserError, errorMessage, writeJson, type CliIo } from '@toolbox/shared';
import { auditConfig, predict, type Prediction, type Resolver, type Source } from './sendmail-config.js';
import { dnsResolver, hostsResolver } from './resolvers.js';

export interface ConfigCommandOptions {
  mc: string;
  cf?: string;
  access?: string;
  relayDomains?: string;
  localHostNames?: string;
  resolver?: string;
  hosts?: string;
  own: string[];
  client: string[];
  extDomain: string;
  json: boolean;
  timeout: number;
}

async function source(path: string | undefined, what: string): Promise<Source | undefined> {
  if (path === undefined) return undefined;
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (err) {
    throw new UserError('E_CONFIG_READ', `cannot read the ${what} ${path}: ${errorMessage(err)}`);
  }
}

function checkCidr(c: string): string {
  const [ip, bits] = c.split('/');
  const family = net.isIP(ip ?? '');
  const max = family === 6 ? 128 : 32;
  const b = bits === undefined ? max : Number(bits);
  if (family === 0 || !Number.isInteger(b) || b < 0 || b > max) throw new UserError('E_OWN', `--own '${c}' is not a CIDR (10.1.0.0/16)`);
  return `${ip ?? ''}/${b}`;
}

export async function runConfigCommand(opts: ConfigCommandOptions, io: CliIo): Promise<void> {
  const own = opts.own.map(checkCidr);
  for (const c of opts.client) if (net.isIP(c) === 0) throw new UserError('E_CLIENT', `--client '${c}' is not an IP address`);
  const mc = await source(opts.mc, '.mc file');
  if (!mc) throw new UserError('E_CONFIG_READ', '--mc is required');
  // The .cf is read only to check it was built from this .mc (an old .cf is what sendmail runs).
  const cf = await source(opts.cf, '.cf file');
  let resolver: Resolver | undefined;
  if (opts.hosts !== undefined) resolver = hostsResolver((await source(opts.hosts, 'hosts file'))?.text ?? '');
  else if (opts.resolver !== undefined) resolver = dnsResolver(opts.resolver, opts.timeout);
  const access = await source(opts.access, 'access file');
  const relayDomains = await source(opts.relayDomains, 'relay-domains file');
  const localHostNames = await source(opts.localHostNames, 'local-host-names file');
  const audit = await auditConfig({
    mc,
    ...(access ? { access } : {}),
    ...(relayDomains ? { relayDomains } : {}),
    ...(localHostNames ? { localHostNames } : {}),
    own,
    ...(resolver ? { resolver } : {}),
  });
  if (cf) {
    const features = [...cf.text.matchAll(/^#####\s+\$Id: (\S+)\.m4,v/gm)].map((m) => m[1] ?? '');
    const missing = audit.features.filter((f) => !features.includes(f) && features.length > 0);
    if (missing.length > 0) {
      audit.findings.push({ code: 'CF_STALE', severity: 'medium', message: `${cf.path} has no trace of FEATURE(${missing.join(', ')}): rebuild it from the .mc (m4) and restart sendmail`, from: cf.path, fix: `m4 ${opts.mc} > ${cf.path}` });
    }
  }
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
      out.push(`  ${g.kind.padEnd(19)} ${g.value}  (${g.from})${g.resolves_to ? ` → ${g.resolves_to.length > 0 ? g.resolves_to.join(', ') : 'no address'}` : ''}${g.note ? `; ${g.note}` : ''}`);
    }
    out.push(audit.findings.length === 0 ? 'findings: none' : 'findings:');
    for (const f of audit.findings) out.push(`  ${f.code} [${f.severity}] ${f.message} (${f.from})\n    fix: ${f.fix}`);
    for (const p of predictions) out.push(`client ${p.client}${p.name ? ` (${p.name})` : ''}: ${p.relays ? 'RELAYS' : 'denied'} — ${p.why}`);
    io.stdout.write(`${out.join('\n')}\n`);
  }
  io.setExitCode(exit);
}
