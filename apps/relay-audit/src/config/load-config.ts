/**
 * The config side's IO edge, shared by `config` and `explain`: reads the sendmail files a command
 * names, picks the resolver (a hosts file or a DNS server, never the machine's), and audits them.
 */
import { readFile } from 'node:fs/promises';
import { UserError, errorMessage } from '@toolbox/shared';
import { auditConfig, type Audit, type Resolver, type Source } from './sendmail-config.js';
import { dnsResolver, hostsResolver } from './resolvers.js';

export interface ConfigFiles {
  mc: string;
  cf?: string;
  access?: string;
  relayDomains?: string;
  localHostNames?: string;
  /** DNS servers, asked in order (`--resolver`, repeatable). */
  resolver?: string[];
  hosts?: string;
  /** Per DNS query, with `resolver`. */
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

/** Audits the files; `own` are the CIDRs the user declares as theirs (already checked). */
export async function loadAudit(files: ConfigFiles, own: readonly string[]): Promise<{ audit: Audit; resolver: Resolver | undefined }> {
  const mc = await source(files.mc, '.mc file');
  if (!mc) throw new UserError('E_CONFIG_READ', '--mc is required');
  // The .cf is read only to check it was built from this .mc (an old .cf is what sendmail runs).
  const cf = await source(files.cf, '.cf file');
  let resolver: Resolver | undefined;
  if (files.hosts !== undefined) resolver = hostsResolver((await source(files.hosts, 'hosts file'))?.text ?? '');
  else if (files.resolver !== undefined && files.resolver.length > 0) resolver = dnsResolver(files.resolver, files.timeout);
  const access = await source(files.access, 'access file');
  const relayDomains = await source(files.relayDomains, 'relay-domains file');
  const localHostNames = await source(files.localHostNames, 'local-host-names file');
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
      audit.findings.push({
        code: 'CF_STALE',
        severity: 'medium',
        message: `${cf.path} has no trace of FEATURE(${missing.join(', ')}): rebuild it from the .mc (m4) and restart sendmail`,
        from: cf.path,
        fix: `m4 ${files.mc} > ${cf.path}`,
      });
    }
  }
  return { audit, resolver };
}
