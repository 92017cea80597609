/**
 * Who may relay through a sendmail built from this .mc, access and relay-domains: pure parsers with
 * file:line provenance, turned into grants and findings. Name resolution is a parameter.
 *
 * sendmail's rules (cf/README, proto.m4 Rcpt_ok / Relay_ok):
 * - the client 127.0.0.1 (and ::1) always relays;
 * - `Connect:` (and untagged) access entries with RELAY match the client address by prefix
 *   (`10.1` is 10.1.0.0/16) and the client's name by domain suffix;
 * - names in class R (relay-domains, RELAY_DOMAIN) match the client's name by suffix, addresses by
 *   prefix; FEATURE(relay_hosts_only) makes both name matches exact;
 * - names in class R and `To:` RELAY entries are also destinations anyone may relay to;
 * - a client name counts only when its reverse lookup forward-confirms.
 */
import { UserError, cidrWithin, inCidr, parseCidr } from '@toolbox/shared';

export { inCidr };

export interface Source {
  path: string;
  text: string;
}

export interface Provenance {
  file: string;
  line: number;
}

export type GrantKind =
  | 'loopback'
  | 'client-ip'
  | 'client-name-suffix'
  | 'client-name-exact'
  | 'relay-to-domain'
  | 'sender'
  | 'relay-to-mx'
  | 'promiscuous'
  | 'percent-hack';

export interface Grant {
  kind: GrantKind;
  /** A CIDR, a name, or a description for the feature grants. */
  value: string;
  from: string;
  /** For name grants: the addresses the name itself resolves to now. */
  resolves_to?: string[];
  note?: string;
}

export interface Finding {
  code: string;
  severity: 'high' | 'medium' | 'info';
  message: string;
  from: string;
  fix: string;
}

export interface AccessEntry {
  tag: string;
  key: string;
  value: string;
  at: Provenance;
}

export interface McInfo {
  features: Map<string, Provenance>;
  defines: Map<string, { value: string; at: Provenance }>;
  relayDomains: { name: string; at: Provenance }[];
  /** Where the raw-cf part starts (LOCAL_CONFIG …): not audited. */
  rawFrom: Provenance | null;
}

const where = (p: Provenance): string => `${p.file}:${p.line}`;

function unquote(arg: string): string {
  const t = arg.trim();
  return t.startsWith('`') && t.endsWith("'") ? t.slice(1, -1) : t;
}

const RAW_SECTIONS =
  /^(LOCAL_CONFIG|LOCAL_RULESETS|LOCAL_RULE_\d|LOCAL_NET_CONFIG|LOCAL_SRV_FEATURES|LOCAL_TRY_TLS|LOCAL_TLS_\w+|LOCAL_STARTTLS|LOCAL_RULESET_\w+|LOCAL_UUCP)\b/;

/** Parses the subset of m4 a sendmail.mc is written in; a line we do not understand is an error. */
export function parseMc(src: Source): McInfo {
  const info: McInfo = { features: new Map(), defines: new Map(), relayDomains: [], rawFrom: null };
  const lines = src.text.split('\n');
  let diverted = false;
  for (let i = 0; i < lines.length; i++) {
    const at = { file: src.path, line: i + 1 };
    let line = (lines[i] ?? '').replace(/\r$/, '');
    if (/^\s*divert\(\s*-1\s*\)/.test(line)) {
      diverted = true;
      continue;
    }
    if (/^\s*divert\(\s*0?\s*\)/.test(line)) {
      diverted = false;
      continue;
    }
    if (diverted) continue;
    line = line.replace(/\bdnl\b.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (RAW_SECTIONS.test(line)) {
      info.rawFrom = at;
      break;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?\s*$/.exec(line);
    if (m === null)
      throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: sendmail.mc syntax we do not know: ${JSON.stringify(line.slice(0, 80))}`);
    const name = m[1] ?? '';
    const args = splitArgs(m[2] ?? '');
    if (name === 'FEATURE') {
      const f = unquote(args[0] ?? '');
      if (f === '') throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: FEATURE() without a name`);
      info.features.set(f, at);
    } else if (name === 'define') {
      info.defines.set(unquote(args[0] ?? ''), { value: unquote(args.slice(1).join(',')), at });
    } else if (name === 'RELAY_DOMAIN') {
      for (const d of unquote(args[0] ?? '')
        .split(/\s+/)
        .filter(Boolean))
        info.relayDomains.push({ name: d, at });
    }
  }
  return info;
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '`') depth++;
    if (ch === "'" && depth > 0) depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '' || out.length > 0) out.push(cur);
  return out;
}

const ACCESS_TAGS = new Set([
  'connect',
  'from',
  'to',
  'spam',
  'greetpause',
  'clientrate',
  'clientconn',
  'qgrp',
  'srv_features',
  'tls_clt',
  'tls_srv',
  'try_tls',
  'tls_rcpt',
  'clt_features',
  'compat',
  'ehlo',
  'mta-sts',
]);
const ACCESS_VALUE = /^(RELAY|OK|REJECT|DISCARD|SKIP|ACCEPT|FRIEND|HATER|QUARANTINE:.*|ERROR:.*|\d{3}\b.*|\d+|[A-Za-z0-9_]+:.*|[A-Za-z]+)$/;

/** sendmail's access file: `[Tag:]key  value`, `#` comments. */
export function parseAccess(src: Source): AccessEntry[] {
  const out: AccessEntry[] = [];
  src.text.split('\n').forEach((raw, i) => {
    const at = { file: src.path, line: i + 1 };
    const line = raw.replace(/\r$/, '');
    if (/^\s*(#|$)/.test(line)) return;
    const m = /^(\S+)\s+(.+?)\s*$/.exec(line);
    if (m === null)
      throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: an access line is "key value": ${JSON.stringify(line.slice(0, 80))}`);
    const rawKey = m[1] ?? '';
    const value = m[2] ?? '';
    let tag = '';
    let key = rawKey;
    const t = /^([A-Za-z_-]+):(.*)$/.exec(rawKey);
    if (t !== null && t[1]?.toLowerCase() !== 'ipv6') {
      if (!ACCESS_TAGS.has((t[1] ?? '').toLowerCase()))
        throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: unknown access tag '${t[1] ?? ''}:'`);
      tag = (t[1] ?? '').toLowerCase();
      key = t[2] ?? '';
    }
    if (!ACCESS_VALUE.test(value))
      throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: access value we do not know: ${JSON.stringify(value.slice(0, 80))}`);
    out.push({ tag, key, value, at });
  });
  return out;
}

/** relay-domains / local-host-names: one name or address prefix a line, `#` comments. */
export function parseNameList(src: Source): { name: string; at: Provenance }[] {
  const out: { name: string; at: Provenance }[] = [];
  src.text.split('\n').forEach((raw, i) => {
    const at = { file: src.path, line: i + 1 };
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    if (!/^[A-Za-z0-9._:[\]-]+$/.test(line))
      throw new UserError('E_CONFIG_SYNTAX', `${where(at)}: not a host, domain or address prefix: ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ name: line.toLowerCase().replace(/\.$/, ''), at });
  });
  return out;
}

/** A sendmail address prefix (`10.1`, `10.99.0.13`, `IPv6:2001:db8`) as a CIDR, or null for a name. */
export function prefixToCidr(key: string): string | null {
  const k = key.replace(/^\[|\]$/g, '');
  if (/^\d{1,3}(\.\d{1,3}){0,3}$/.test(k)) {
    const parts = k.split('.');
    const bits = parts.length * 8;
    while (parts.length < 4) parts.push('0');
    return `${parts.join('.')}/${bits}`;
  }
  const v6 = /^IPv6:([0-9A-Fa-f:]+)$/i.exec(k);
  if (v6) {
    const text = v6[1] ?? '';
    const groups = text.split(':');
    // a compressed (`::`) or eight-group key is a whole address; fewer groups are a prefix
    if (text.includes('::') || groups.length >= 8) return `${text}/128`;
    return `${text}::/${groups.length * 16}`;
  }
  return null;
}

export interface Resolver {
  /** A and AAAA of a name (empty when it has none). */
  forward(name: string): Promise<string[]>;
  /** PTR names of an address. */
  reverse(ip: string): Promise<string[]>;
  /** MX targets of a domain. */
  mx(domain: string): Promise<string[]>;
}

export interface AuditInput {
  mc: Source;
  access?: Source;
  relayDomains?: Source;
  localHostNames?: Source;
  /** Networks the user declares as their own: grants inside them are not findings. */
  own: readonly string[];
  resolver?: Resolver;
}

export interface Audit {
  features: string[];
  grants: Grant[];
  findings: Finding[];
  /** Whether some grant reaches beyond loopback and the user's own networks. */
  reachesBeyond: boolean;
  /** The model the predictor needs. */
  model: RelayModel;
}

export interface RelayModel {
  promiscuous: boolean;
  hostsOnly: boolean;
  ipGrants: { cidr: string; from: string }[];
  rejects: { cidr: string; from: string }[];
  nameGrants: { name: string; from: string }[];
  nameRejects: { name: string; from: string }[];
  relayToDomains: { name: string; from: string }[];
  relayBasedOnMx: boolean;
  localNames: string[];
}

const LOOPBACK = ['127.0.0.1/32', '::1/128'];
const isRelay = (v: string): boolean => v.toUpperCase() === 'RELAY';
const isReject = (v: string): boolean => /^(REJECT|DISCARD|ERROR:|5\d\d\b)/i.test(v);

function nameMatches(client: string, grant: string, exact: boolean): boolean {
  const c = client.toLowerCase().replace(/\.$/, '');
  const g = grant.toLowerCase().replace(/\.$/, '');
  return c === g || (!exact && c.endsWith(`.${g}`));
}

/** Computes grants and findings. */
export async function auditConfig(input: AuditInput): Promise<Audit> {
  const mc = parseMc(input.mc);
  const access = input.access ? parseAccess(input.access) : [];
  const relayList = [...(input.relayDomains ? parseNameList(input.relayDomains) : []), ...mc.relayDomains];
  const localNames = input.localHostNames ? parseNameList(input.localHostNames).map((e) => e.name) : [];
  const has = (f: string): Provenance | undefined => mc.features.get(f);
  const hostsOnly = has('relay_hosts_only') !== undefined;
  const grants: Grant[] = [];
  const findings: Finding[] = [];
  const model: RelayModel = {
    promiscuous: false,
    hostsOnly,
    ipGrants: [],
    rejects: [],
    nameGrants: [],
    nameRejects: [],
    relayToDomains: [],
    relayBasedOnMx: has('relay_based_on_MX') !== undefined,
    localNames,
  };
  for (const cidr of LOOPBACK) grants.push({ kind: 'loopback', value: cidr, from: 'sendmail (built in)' });
  if (input.access && !has('access_db')) {
    findings.push({
      code: 'ACCESS_NOT_USED',
      severity: 'info',
      message: `${input.access.path} is given but the .mc has no FEATURE(access_db): sendmail ignores it`,
      from: input.mc.path,
      fix: "add FEATURE(`access_db') or drop the file",
    });
  }
  const accessUsed = access.filter(() => has('access_db') !== undefined);
  for (const e of accessUsed) {
    const from = where(e.at);
    if (e.tag !== '' && e.tag !== 'connect' && e.tag !== 'to') continue;
    const cidr = prefixToCidr(e.key);
    if (e.tag !== 'to') {
      if (cidr !== null && isRelay(e.value)) model.ipGrants.push({ cidr, from });
      else if (cidr !== null && isReject(e.value)) model.rejects.push({ cidr, from });
      else if (cidr === null && isRelay(e.value)) model.nameGrants.push({ name: e.key.toLowerCase(), from });
      else if (cidr === null && isReject(e.value)) model.nameRejects.push({ name: e.key.toLowerCase(), from });
    }
    if (e.tag !== 'connect' && cidr === null && isRelay(e.value)) model.relayToDomains.push({ name: e.key.toLowerCase(), from });
  }
  for (const r of relayList) {
    const from = where(r.at);
    const cidr = prefixToCidr(r.name);
    if (cidr !== null) model.ipGrants.push({ cidr, from });
    else {
      model.nameGrants.push({ name: r.name, from });
      model.relayToDomains.push({ name: r.name, from });
    }
  }

  const own = input.own;
  const ownCovers = (ip: string): boolean => own.some((c) => inCidr(ip, c)) || LOOPBACK.some((c) => inCidr(ip, c));
  let beyond = false;

  const prom = has('promiscuous_relay');
  if (prom) {
    model.promiscuous = true;
    beyond = true;
    grants.push({ kind: 'promiscuous', value: 'any client, any destination', from: where(prom) });
    findings.push({
      code: 'PROMISCUOUS_RELAY',
      severity: 'high',
      message: 'FEATURE(promiscuous_relay): an open relay for everyone',
      from: where(prom),
      fix: "remove FEATURE(`promiscuous_relay')",
    });
  }
  for (const g of model.ipGrants) {
    grants.push({ kind: 'client-ip', value: g.cidr, from: g.from });
    const inside = own.some((c) => cidrWithin(g.cidr, c)) || LOOPBACK.includes(g.cidr);
    if (!inside) {
      beyond = true;
      findings.push({
        code: 'IP_GRANT_OUTSIDE_OWN',
        severity: 'medium',
        message: `clients in ${g.cidr} may relay, outside the networks declared as own`,
        from: g.from,
        fix: `remove the entry, or declare the network with --own ${g.cidr} if it is yours`,
      });
    }
  }
  for (const g of model.nameGrants) {
    const resolved = input.resolver ? await input.resolver.forward(g.name).catch(() => []) : undefined;
    const grant: Grant = {
      kind: hostsOnly ? 'client-name-exact' : 'client-name-suffix',
      value: hostsOnly ? g.name : `${g.name} and every name under .${g.name}`,
      from: g.from,
      note: 'only for clients whose reverse DNS name forward-confirms',
    };
    if (resolved !== undefined) grant.resolves_to = resolved;
    grants.push(grant);
    if (!hostsOnly) {
      beyond = true;
      findings.push({
        code: 'NAME_GRANT_SUFFIX',
        severity: 'high',
        message: `every host whose DNS name lies inside ${g.name} may relay (no FEATURE(relay_hosts_only))`,
        from: g.from,
        fix: "add FEATURE(`relay_hosts_only') to the .mc, or list addresses instead of names",
      });
    }
    const outside = (resolved ?? []).filter((ip) => !ownCovers(ip));
    if (outside.length > 0) {
      beyond = true;
      findings.push({
        code: 'NAME_GRANT_A_RECORD',
        severity: 'high',
        message: `${g.name} itself resolves to ${outside.join(', ')}: that host may relay`,
        from: g.from,
        fix: `add ${outside.map((ip) => `Connect:${ip} REJECT`).join(', ')} to the access file, or remove ${g.name}`,
      });
    } else if (resolved === undefined && hostsOnly) {
      beyond = true;
    }
  }
  for (const d of model.relayToDomains) {
    grants.push({ kind: 'relay-to-domain', value: `any client, to ${d.name}${hostsOnly ? '' : ` and *.${d.name}`}`, from: d.from });
    if (!localNames.includes(d.name)) beyond = true;
  }
  for (const [feature, code, text] of [
    ['relay_local_from', 'SENDER_BASED_RELAY', 'a sender address in a local domain relays: anyone who forges MAIL FROM can'],
    ['relay_mail_from', 'SENDER_BASED_RELAY', 'senders listed as From: RELAY in access relay: anyone who forges MAIL FROM can'],
    ['relay_entire_domain', 'RELAY_ENTIRE_DOMAIN', 'every host in the local domain ($=m) may relay'],
  ] as const) {
    const at = has(feature);
    if (!at) continue;
    beyond = true;
    grants.push({ kind: 'sender', value: text, from: where(at) });
    findings.push({
      code,
      severity: 'high',
      message: `FEATURE(${feature}): ${text}`,
      from: where(at),
      fix: `remove FEATURE(\`${feature}')`,
    });
  }
  const mx = has('relay_based_on_MX');
  if (mx) {
    beyond = true;
    grants.push({
      kind: 'relay-to-mx',
      value: 'any client, to any domain whose MX points at this host (or at localhost.)',
      from: where(mx),
    });
    findings.push({
      code: 'RELAY_BASED_ON_MX',
      severity: 'high',
      message: 'FEATURE(relay_based_on_MX): anyone who points an MX at this host, or at localhost., gets relay',
      from: where(mx),
      fix: "remove FEATURE(`relay_based_on_MX') and list the domains you back up in relay-domains",
    });
  }
  const loose = has('loose_relay_check');
  if (loose) {
    beyond = true;
    grants.push({ kind: 'percent-hack', value: 'any client: user%other@thishost', from: where(loose) });
    findings.push({
      code: 'LOOSE_RELAY_CHECK',
      severity: 'high',
      message: 'FEATURE(loose_relay_check): the %-hack relays (user%ext@thishost)',
      from: where(loose),
      fix: "remove FEATURE(`loose_relay_check')",
    });
  }
  if (mc.rawFrom) {
    findings.push({
      code: 'RAW_CF_NOT_AUDITED',
      severity: 'info',
      message: 'LOCAL_* sections hold raw sendmail.cf rules this audit does not read',
      from: where(mc.rawFrom),
      fix: 'review those rules by hand',
    });
  }
  return { features: [...mc.features.keys()], grants, findings, reachesBeyond: beyond, model };
}

export interface Prediction {
  client: string;
  name: string | null;
  relays: boolean;
  why: string;
}

/** What the model says a client at `ip` gets for an RCPT to `extDomain`. */
export async function predict(model: RelayModel, ip: string, extDomain: string, resolver?: Resolver): Promise<Prediction> {
  let name: string | null = null;
  if (resolver) {
    const names: string[] = await resolver.reverse(ip).catch((): string[] => []);
    for (const n of names) {
      const back: string[] = await resolver.forward(n).catch((): string[] => []);
      if (back.includes(ip)) {
        name = n.toLowerCase().replace(/\.$/, '');
        break;
      }
    }
  }
  const base = { client: ip, name };
  if (model.promiscuous) return { ...base, relays: true, why: 'promiscuous_relay' };
  if (LOOPBACK.some((c) => inCidr(ip, c))) return { ...base, relays: true, why: 'loopback' };
  const longest = (list: { cidr: string; from: string }[]): { cidr: string; from: string; bits: number } | null =>
    list
      .filter((g) => inCidr(ip, g.cidr))
      .map((g) => ({ ...g, bits: parseCidr(g.cidr)?.bits ?? 0 }))
      .sort((a, b) => b.bits - a.bits)[0] ?? null;
  const rej = longest(model.rejects);
  const ok = longest(model.ipGrants);
  if (rej && (!ok || rej.bits >= ok.bits)) return { ...base, relays: false, why: `rejected by ${rej.from}` };
  if (ok) return { ...base, relays: true, why: `${ok.cidr} (${ok.from})` };
  const to = model.relayToDomains.find((d) => nameMatches(extDomain, d.name, model.hostsOnly));
  if (to) return { ...base, relays: true, why: `relay to ${to.name} (${to.from})` };
  if (model.relayBasedOnMx && resolver) {
    const mxs = await resolver.mx(extDomain).catch(() => []);
    if (mxs.some((m) => /^localhost\.?$/i.test(m) || model.localNames.includes(m.toLowerCase().replace(/\.$/, '')))) {
      return { ...base, relays: true, why: `MX of ${extDomain} points here (relay_based_on_MX)` };
    }
  }
  if (name !== null) {
    const nrej = model.nameRejects.find((g) => nameMatches(name ?? '', g.name, false));
    if (nrej) return { ...base, relays: false, why: `name ${name} rejected by ${nrej.from}` };
    const g = model.nameGrants.find((x) => nameMatches(name ?? '', x.name, model.hostsOnly));
    if (g) return { ...base, relays: true, why: `name ${name} matches ${g.name} (${g.from})` };
  }
  return { ...base, relays: false, why: name === null ? 'no grant (no forward-confirmed name)' : `no grant for ${name}` };
}
