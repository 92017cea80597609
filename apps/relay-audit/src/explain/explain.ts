/**
 * `explain`'s core: a probe report joined with the config audit, vantage by vantage — the grants
 * that let it relay (file:line), or that none covers it. Where observation and prediction
 * disagree, that is the finding, and how the MTA saw the vantage usually says why: a proxy, NAT or
 * container port mapping in front of the MTA makes outside connections look local, and loopback
 * always relays. Pure, but for the resolver the caller injects.
 */
import net from 'node:net';
import { UserError, parseSshUrl, printable } from '@toolbox/shared';
import { isAccepted, overallVerdict, type ProbeClass, type Verdict } from '../probe/classify.js';
import { inCidr, predict, type Audit, type GrantKind, type RelayModel, type Resolver } from '../config/sendmail-config.js';

/** The part of `probe --json` that explain reads (a ProbeReport is one). */
export interface Observation {
  target: string;
  vantages: ObservedVantage[];
}

export interface ObservedVantage {
  vantage: string;
  verdict: Verdict;
  seen_as: { name: string | null; address: string | null } | null;
  error?: string;
  probes: { id: string; mail_from: string; rcpt_to: string; class: ProbeClass }[];
}

/** A grant (or a REJECT entry) whose scope holds a client, with where it is written. */
export interface Cover {
  kind: GrantKind | 'reject';
  /** A CIDR, a name, or what a feature grant allows. */
  value: string;
  /** `file:line`, or `sendmail (built in)` for loopback. */
  from: string;
}

/** One client address as the config judges it. */
export interface ClientFacts {
  address: string;
  /** Its forward-confirmed name through the audit's resolver, or null. */
  name: string | null;
  relays: boolean;
  /** The prediction's reason, as `config --client` prints it. */
  why: string;
  /** Every grant whose scope holds this client and the probed destination. */
  covered_by: Cover[];
  /** REJECT entries that hold it; one at least as specific as the best IP grant wins. */
  refused_by: Cover[];
}

export type Status = 'agree' | 'disagree' | 'inconclusive';

/**
 * Why observation and config part: `address-translated` — the MTA saw another address, which the
 * config judges as observed (a proxy, NAT, port mapping); `config-mismatch` — the config does not
 * explain what the running MTA did, whichever address it saw.
 */
export type Cause = 'address-translated' | 'config-mismatch';

export interface VantageExplanation {
  vantage: string;
  /** The address the vantage connects from, as named: a source IP, or an SSH vantage's IP; null for `local` or a host name. */
  address: string | null;
  seen_as: { name: string | null; address: string | null } | null;
  observed: Verdict;
  /** What the config says for the vantage's address (for `local`, for how the MTA saw it); null when unknown. */
  predicted: 'open' | 'closed' | null;
  status: Status;
  cause: Cause | null;
  /** One line; the finding itself when they disagree. */
  message: string;
  /** The vantage's address as the config judges it. */
  client: ClientFacts | null;
  /** How the MTA saw it, when that is another address than `address`. */
  seen: ClientFacts | null;
  /** Grants any client relays through with some address forms (sender-based, %-hack), when only those explain an open vantage. */
  form_grants: Cover[];
}

export interface Explanation {
  target: string;
  ext_domain: string;
  /** The probe's overall verdict. */
  observed: Verdict;
  /** Every vantage that could be compared agrees. */
  agree: boolean;
  disagreements: number;
  vantages: VantageExplanation[];
  /** Audit findings that bear on whether the running MTA uses these files (stale .cf, unread raw rules). */
  notes: string[];
}

const VERDICTS: readonly Verdict[] = ['open', 'closed', 'inconclusive'];
const CLASSES: readonly ProbeClass[] = [
  'ACCEPTED_RCPT',
  'ACCEPTED_DATA',
  'PROTOCOL_ERROR',
  'NEEDS_TLS',
  'NEEDS_AUTH',
  'DENIED',
  'TEMPFAIL',
  'CONN_LOST',
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** The JSON `probe --json` printed; anything else is a clear error naming `where`. */
export function parseProbeReport(text: string, where: string): Observation {
  const bad = (what: string): UserError => new UserError('E_REPORT', `${where}: not the output of 'relay-audit probe --json' (${what})`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (!isObject(value)) throw bad('not a JSON object');
  if (value.ok === false && isObject(value.error)) {
    throw new UserError('E_REPORT', `${where}: the probe itself failed: ${String(value.error.message)}`);
  }
  if (typeof value.target !== 'string') throw bad('no "target"');
  if (!Array.isArray(value.vantages)) throw bad('no "vantages" list');
  const vantages = value.vantages.map((v: unknown, i): ObservedVantage => {
    if (!isObject(v) || typeof v.vantage !== 'string') throw bad(`vantages[${i}] has no "vantage"`);
    if (!VERDICTS.includes(v.verdict as Verdict)) throw bad(`vantages[${i}].verdict is not open, closed or inconclusive`);
    const seen = v.seen_as;
    if (seen !== null && !(isObject(seen) && nullableString(seen.name) && nullableString(seen.address)))
      throw bad(`vantages[${i}].seen_as is not {name, address} or null`);
    if (!Array.isArray(v.probes)) throw bad(`vantages[${i}] has no "probes" list`);
    const probes = v.probes.map((p: unknown, j) => {
      if (
        !isObject(p) ||
        typeof p.id !== 'string' ||
        typeof p.mail_from !== 'string' ||
        typeof p.rcpt_to !== 'string' ||
        !CLASSES.includes(p.class as ProbeClass)
      ) {
        throw bad(`vantages[${i}].probes[${j}] is not a probe result`);
      }
      return { id: p.id, mail_from: p.mail_from, rcpt_to: p.rcpt_to, class: p.class as ProbeClass };
    });
    return {
      vantage: v.vantage,
      verdict: v.verdict as Verdict,
      seen_as: seen === null ? null : { name: seen.name as string | null, address: seen.address as string | null },
      ...(typeof v.error === 'string' ? { error: v.error } : {}),
      probes,
    };
  });
  return { target: value.target, vantages };
}

const PLAIN_RCPT = /^[^@%!:"\s]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$/;

/** The external domain the probes tried: the most common domain of a plain `local@domain` recipient. */
export function inferExtDomain(o: Observation): string | null {
  const counts = new Map<string, number>();
  for (const v of o.vantages) {
    for (const p of v.probes) {
      const d = PLAIN_RCPT.exec(p.rcpt_to)?.[1]?.toLowerCase();
      if (d !== undefined) counts.set(d, (counts.get(d) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

/** The address a vantage label names: a source IP, or the host of an SSH URL when it is an IP. */
export function vantageAddress(label: string): string | null {
  if (net.isIP(label) !== 0) return label;
  if (!label.toLowerCase().startsWith('ssh://')) return null;
  try {
    const host = parseSshUrl(label).host.replace(/^\[|\]$/g, '');
    return net.isIP(host) === 0 ? null : host;
  } catch {
    return null;
  }
}

function nameMatches(client: string, grant: string, exact: boolean): boolean {
  const c = client.toLowerCase().replace(/\.$/, '');
  const g = grant.toLowerCase().replace(/\.$/, '');
  return c === g || (!exact && c.endsWith(`.${g}`));
}

/** Whether the MX of `extDomain` points at this host, so that relay_based_on_MX lets anyone relay to it. */
export async function mxPointsHere(model: RelayModel, extDomain: string, resolver: Resolver | undefined): Promise<boolean> {
  if (!model.relayBasedOnMx || resolver === undefined) return false;
  const mxs = await resolver.mx(extDomain).catch((): string[] => []);
  return mxs.some((m) => /^localhost\.?$/i.test(m) || model.localNames.includes(m.toLowerCase().replace(/\.$/, '')));
}

/**
 * Every grant and REJECT entry whose scope holds the client `ip` (named `name` when that
 * forward-confirms) relaying to `extDomain`. Sender-based and %-hack grants are not here: they hold
 * address forms, not clients (see `formGrants`).
 */
export function coverOf(
  audit: Pick<Audit, 'grants' | 'model'>,
  ip: string,
  name: string | null,
  extDomain: string,
  mxHere: boolean,
): { covered_by: Cover[]; refused_by: Cover[] } {
  const m = audit.model;
  const covered: Cover[] = [];
  for (const g of audit.grants) {
    if (g.kind === 'promiscuous') covered.push({ kind: g.kind, value: g.value, from: g.from });
    if ((g.kind === 'loopback' || g.kind === 'client-ip') && inCidr(ip, g.value))
      covered.push({ kind: g.kind, value: g.value, from: g.from });
    if (g.kind === 'relay-to-mx' && mxHere) covered.push({ kind: g.kind, value: `${extDomain} (its MX points here)`, from: g.from });
  }
  if (name !== null) {
    for (const g of m.nameGrants) {
      if (nameMatches(name, g.name, m.hostsOnly))
        covered.push({ kind: m.hostsOnly ? 'client-name-exact' : 'client-name-suffix', value: g.name, from: g.from });
    }
  }
  for (const d of m.relayToDomains) {
    if (nameMatches(extDomain, d.name, m.hostsOnly)) covered.push({ kind: 'relay-to-domain', value: d.name, from: d.from });
  }
  const refused: Cover[] = [
    ...m.rejects.filter((r) => inCidr(ip, r.cidr)).map((r): Cover => ({ kind: 'reject', value: r.cidr, from: r.from })),
    ...(name === null
      ? []
      : m.nameRejects.filter((r) => nameMatches(name, r.name, false)).map((r): Cover => ({ kind: 'reject', value: r.name, from: r.from }))),
  ];
  return { covered_by: covered, refused_by: refused };
}

/** Grants any client relays through with some address forms: a sender it may forge, or user%ext@here. */
export function formGrants(audit: Pick<Audit, 'grants'>): Cover[] {
  return audit.grants
    .filter((g) => g.kind === 'sender' || g.kind === 'percent-hack')
    .map((g) => ({ kind: g.kind, value: g.value, from: g.from }));
}

/** The config's verdict for one client address, with the grants behind it. */
export async function clientFacts(
  audit: Pick<Audit, 'grants' | 'model'>,
  ip: string,
  extDomain: string,
  mxHere: boolean,
  resolver?: Resolver,
): Promise<ClientFacts> {
  const p = await predict(audit.model, ip, extDomain, resolver);
  return { address: ip, name: p.name, relays: p.relays, why: p.why, ...coverOf(audit, ip, p.name, extDomain, mxHere) };
}

/** The addresses explain needs facts for: each vantage's own, and how the MTA saw it. */
export function addressesOf(o: Observation): string[] {
  const out = new Set<string>();
  for (const v of o.vantages) {
    const own = vantageAddress(v.vantage);
    if (own !== null) out.add(own);
    const seen = v.seen_as?.address;
    if (seen != null && net.isIP(seen) !== 0) out.add(seen);
  }
  return [...out];
}

const sameAddress = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/**
 * An open vantage whose accepted probes include one with the null sender and a plain recipient
 * relays as a client: no sender-based or %-hack grant lets that form through.
 */
function relaysAsClient(v: ObservedVantage, extDomain: string): boolean {
  return v.probes.some(
    (p) => isAccepted(p.class) && p.mail_from === '' && PLAIN_RCPT.exec(p.rcpt_to)?.[1]?.toLowerCase() === extDomain.toLowerCase(),
  );
}

/** Grants as one phrase: `client-ip 127.0.0.1/32 (access:1), loopback 127.0.0.1/32 (sendmail (built in))`. */
export function coverList(covers: readonly Cover[]): string {
  return covers.map((c) => `${c.kind} ${c.value} (${c.from})`).join(', ');
}

function seenPhrase(s: { name: string | null; address: string | null }): string {
  const addr = s.address ?? '?';
  return s.name !== null && s.name !== addr ? `${addr} (${s.name})` : addr;
}

/**
 * One vantage: observed against predicted for the address it connects from (for `local`, for how
 * the MTA saw it). When they part and the MTA saw another address, that address's verdict says
 * whether the translation explains it.
 */
export function explainVantage(
  v: ObservedVantage,
  facts: ReadonlyMap<string, ClientFacts>,
  forms: readonly Cover[],
  extDomain: string,
): VantageExplanation {
  const address = vantageAddress(v.vantage);
  const seenAddr = v.seen_as?.address ?? null;
  const client = (address !== null ? facts.get(address) : seenAddr !== null ? facts.get(seenAddr) : undefined) ?? null;
  const translated = address !== null && seenAddr !== null && !sameAddress(address, seenAddr);
  const seen = translated ? (facts.get(seenAddr) ?? null) : null;
  const who = `vantage ${v.vantage}${address !== null && address !== v.vantage ? ` (${address})` : ''}`;
  // one key order for every vantage, the verdicts and the finding first
  const make = (
    predicted: VantageExplanation['predicted'],
    status: Status,
    cause: Cause | null,
    message: string,
    form_grants: Cover[] = [],
  ): VantageExplanation => ({
    vantage: v.vantage,
    address,
    seen_as: v.seen_as,
    observed: v.verdict,
    predicted,
    status,
    cause,
    message,
    client,
    seen,
    form_grants,
  });
  const sawAs = translated && v.seen_as ? `; the MTA saw it as ${seenPhrase(v.seen_as)}` : '';
  if (v.verdict === 'inconclusive' || client === null) {
    const why =
      v.error !== undefined
        ? `could not be probed: ${v.error}`
        : v.verdict === 'inconclusive'
          ? 'inconclusive (nothing relayed, but a probe was cut short)'
          : 'the MTA did not say which address it saw';
    return make(client === null ? null : client.relays ? 'open' : 'closed', 'inconclusive', null, `${who}: ${why}; not compared`);
  }
  const predicted = client.relays ? 'open' : 'closed';
  const agree = (message: string, form_grants: Cover[] = []): VantageExplanation => make(predicted, 'agree', null, message, form_grants);
  const disagree = (cause: Cause, message: string): VantageExplanation => make(predicted, 'disagree', cause, message);
  const refusal = client.refused_by.length > 0 ? `${coverList(client.refused_by)} refuses it` : 'no grant covers it';
  if (v.verdict === predicted) {
    if (predicted === 'open') return agree(`${who} relays, as the config says${sawAs}`);
    return agree(`${who} is refused, as the config says: ${refusal}${sawAs}`);
  }
  if (v.verdict === 'open') {
    if (forms.length > 0 && !relaysAsClient(v, extDomain)) {
      return agree(`${who} relays, as the config says: through grants any client may use with some address forms${sawAs}`, [...forms]);
    }
    if (seen?.relays === true)
      return disagree(
        'address-translated',
        `${who} relays, but ${refusal}${sawAs}, which ${coverList(seen.covered_by)} ${seen.covered_by.length === 1 ? 'covers' : 'cover'}`,
      );
    return disagree('config-mismatch', `${who} relays, but ${refusal}${sawAs}${seen ? ', which no grant covers either' : ''}`);
  }
  const held = `${client.covered_by.length > 0 ? coverList(client.covered_by) : client.why} ${client.covered_by.length > 1 ? 'cover' : 'covers'} it`;
  if (seen !== null && !seen.relays)
    return disagree('address-translated', `${who} is refused, though ${held}${sawAs}, which no grant covers`);
  return disagree('config-mismatch', `${who} is refused, though ${held}${sawAs}`);
}

const NOTE_CODES = new Set(['CF_STALE', 'RAW_CF_NOT_AUDITED', 'ACCESS_NOT_USED']);

/** The whole join. `facts` holds every address of `addressesOf(o)` that is an IP. */
export function explainObservation(
  o: Observation,
  audit: Pick<Audit, 'grants' | 'findings'>,
  facts: ReadonlyMap<string, ClientFacts>,
  extDomain: string,
): Explanation {
  const forms = formGrants(audit);
  const vantages = o.vantages.map((v) => explainVantage(v, facts, forms, extDomain));
  const disagreements = vantages.filter((v) => v.status === 'disagree').length;
  return {
    target: o.target,
    ext_domain: extDomain,
    observed: overallVerdict(o.vantages.map((v) => v.verdict)),
    agree: disagreements === 0,
    disagreements,
    vantages,
    notes: audit.findings.filter((f) => NOTE_CODES.has(f.code)).map((f) => `${f.code}: ${f.message} (${f.from})`),
  };
}

/** 1: some vantage relays or observation and config disagree; 3: neither, but a vantage is inconclusive; 0: all closed and agreed. */
export function explainExitCode(e: Explanation, inconclusive: number): number {
  if (e.disagreements > 0 || e.vantages.some((v) => v.observed === 'open')) return 1;
  if (e.vantages.length === 0 || e.vantages.some((v) => v.status === 'inconclusive')) return inconclusive;
  return 0;
}

const CAUSE_TEXT: Record<Cause, (seenAddress: string | null) => string> = {
  'address-translated': (seen) =>
    `likely cause: a proxy, NAT or container port mapping in front of the MTA makes ${seen !== null && /^(127\.|::1$)/.test(seen) ? 'outside connections look local' : `connections look as if they came from ${seen ?? '?'}`}; let the MTA see the client's own address (no SNAT or masquerade before it; Docker: "userland-proxy": false), or keep the proxy from reaching it`,
  'config-mismatch': () =>
    'likely cause: the running sendmail is not what these files say: a .cf not rebuilt from this .mc (m4), an access.db not rebuilt (makemap), a daemon not restarted, raw rules (LOCAL_*), or names it resolves otherwise than --hosts/--resolver',
};

/** The text report; every string from the probe report or the files goes through printable(). */
export function formatExplainText(e: Explanation): string {
  const p = printable;
  const head = e.agree
    ? 'the config explains every vantage'
    : `observation and config DISAGREE for ${e.disagreements} of ${e.vantages.length} vantage${e.vantages.length === 1 ? '' : 's'}`;
  const out: string[] = [`target ${p(e.target)}, to ${p(e.ext_domain)}: ${e.observed}; ${head}`];
  for (const v of e.vantages) {
    out.push(`  ${v.status === 'disagree' ? 'DISAGREE: ' : ''}${p(v.message)}`);
    if (v.seen_as) out.push(`    seen as ${p(v.seen_as.name ?? '?')} [${p(v.seen_as.address ?? '?')}]`);
    const c = v.client;
    if (c === null) continue;
    const label = c.name === null ? c.address : `${c.address} (${c.name})`;
    if (c.covered_by.length > 0) out.push(`    ${p(label)} is covered by ${p(coverList(c.covered_by))}`);
    if (c.refused_by.length > 0)
      out.push(
        `    ${p(label)} is refused by ${p(coverList(c.refused_by))}${c.relays ? '' : c.covered_by.length > 0 ? ', which wins' : ''}`,
      );
    if (c.covered_by.length === 0 && c.refused_by.length === 0) out.push(`    no grant covers ${p(label)}`);
    if (v.seen) {
      const s = v.seen;
      const sl = s.name === null ? s.address : `${s.address} (${s.name})`;
      out.push(
        `    ${p(sl)}, as the MTA saw it: ${s.covered_by.length > 0 ? `covered by ${p(coverList(s.covered_by))}` : 'no grant covers it'}${s.refused_by.length > 0 ? `; refused by ${p(coverList(s.refused_by))}` : ''}`,
      );
    }
    if (v.form_grants.length > 0) out.push(`    through ${p(coverList(v.form_grants))}`);
    if (v.cause !== null) out.push(`    ${p(CAUSE_TEXT[v.cause](v.seen_as?.address ?? null))}`);
  }
  for (const n of e.notes) out.push(`note: ${p(n)}`);
  return `${out.join('\n')}\n`;
}
