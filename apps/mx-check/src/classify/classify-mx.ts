/**
 * From the records a domain's lookups returned to a verdict and findings. Pure: the lookups are
 * done elsewhere (check/check.ts) and handed in as facts.
 */
import { registrableDomain, type Cidr } from '@toolbox/shared';
import { classifyAddress, literalAddress } from './address.js';
import { isIpLiteral, isLocalhostName, looksLikeMissingTrailingDot, normalizeName, specialUseTld } from './names.js';

export type LookupStatus = 'ok' | 'nxdomain' | 'nodata' | 'error';

export interface AddressLookup {
  /** ok: at least one address; nxdomain / nodata: for both A and AAAA; error: a lookup failed and none gave an address. */
  status: LookupStatus;
  addresses: string[];
  /** CNAME chain followed from the asked name, each target in order. */
  cname: string[];
  error?: string;
}

export interface MxRecord {
  preference: number;
  /** As in the answer; '' or '.' is the root (null MX). */
  exchange: string;
}

export interface DomainFacts {
  domain: string;
  mx: { status: LookupStatus; records: MxRecord[]; error?: string };
  /** A/AAAA of the domain itself: asked only when it has no MX. */
  implicit?: AddressLookup;
  /** Addresses per exchange, keyed by normalized name. */
  exchanges: ReadonlyMap<string, AddressLookup>;
  /** Registrable domains (of unresolvable exchanges) that answered NXDOMAIN. */
  missingDomains: ReadonlySet<string>;
  /** The domain's TXT records that start with v=spf1: asked only for a null MX. */
  spf?: string[];
}

export type Verdict = 'ok' | 'warn' | 'no_mail' | 'fail' | 'error';
export type Severity = 'info' | 'warn' | 'fail';
export type FindingCode =
  | 'NULL_MX'
  | 'NULL_MX_INVALID'
  | 'NULL_MX_SENDER_CONFLICT'
  | 'MX_LOCALHOST'
  | 'MX_PRIVATE'
  | 'MX_UNROUTABLE'
  | 'MX_IP_LITERAL'
  | 'MX_CNAME'
  | 'MX_UNRESOLVABLE'
  | 'MX_DANGLING'
  | 'MX_SPECIAL_USE'
  | 'MX_DUPLICATE_HOST'
  | 'MX_TRAILING_DOT'
  | 'IMPLICIT_MX'
  | 'NO_MAIL'
  | 'DOMAIN_NXDOMAIN'
  | 'LOOKUP_FAILED'
  | 'INVALID_NAME'
  | 'VIEWS_DIFFER'
  // --authoritative (auth/compare.ts)
  | 'AUTH_DIFFER'
  | 'AUTH_STALE'
  | 'AUTH_LAME'
  | 'AUTH_NS_UNRESOLVABLE';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** The record the finding is about, in zone-file form, or null for the domain as a whole. */
  record: string | null;
  detail: string;
}

export interface MxView {
  preference: number;
  exchange: string;
  addresses: string[];
  cname: string[];
}

export interface Classification {
  verdict: Verdict;
  findings: Finding[];
  mx: MxView[];
}

/** Codes that, on their own, leave a record unusable as a mail target. */
const BREAKING = new Set<FindingCode>([
  'NULL_MX_INVALID',
  'MX_LOCALHOST',
  'MX_IP_LITERAL',
  'MX_UNRESOLVABLE',
  'MX_DANGLING',
  'MX_SPECIAL_USE',
  'NO_MAIL',
  'DOMAIN_NXDOMAIN',
  'LOOKUP_FAILED',
  'INVALID_NAME',
]);

const isRoot = (exchange: string): boolean => exchange === '' || exchange === '.';

export function mxRecordText(r: MxRecord): string {
  return `MX ${r.preference} ${isRoot(r.exchange) ? '.' : `${normalizeName(r.exchange)}.`}`;
}

interface Target {
  preference: number;
  record: string;
  isLocalhost: boolean;
  isUsable: boolean;
  /** A lookup of the target failed: we do not know whether it is usable. */
  isUnknown: boolean;
}

interface Draft {
  code: FindingCode;
  record: string | null;
  detail: string;
}

/** Findings about one set of addresses (an exchange's, or the domain's own for an implicit MX). */
function addressFindings(
  name: string,
  record: string,
  look: AddressLookup,
  treatAsGlobal: readonly Cidr[],
  out: Draft[],
): { isLocalhost: boolean; isUsable: boolean; isUnknown: boolean } {
  const final = look.cname[look.cname.length - 1];
  if (look.cname.length > 0) {
    out.push({
      code: 'MX_CNAME',
      record,
      detail: `${name} is an alias (CNAME ${look.cname.join(' → ')}); RFC 2181 §10.3 wants the exchange to be the canonical name`,
    });
  }
  if (final !== undefined && isLocalhostName(final)) {
    out.push({ code: 'MX_LOCALHOST', record, detail: `${name} is an alias of ${final}, which is the local host (RFC 6761)` });
    return { isLocalhost: true, isUsable: false, isUnknown: false };
  }
  if (look.status === 'error') {
    out.push({ code: 'LOOKUP_FAILED', record, detail: `addresses of ${name}: ${look.error ?? 'lookup failed'}` });
    return { isLocalhost: false, isUsable: false, isUnknown: true };
  }
  if (look.status === 'nxdomain' || look.status === 'nodata') {
    const what = look.status === 'nxdomain' ? 'does not exist (NXDOMAIN)' : 'has no A or AAAA record (NODATA)';
    out.push({ code: 'MX_UNRESOLVABLE', record, detail: `${final ?? name} ${what}` });
    return { isLocalhost: false, isUsable: false, isUnknown: false };
  }
  const j = judgeAddresses(look.addresses, (a) => `${name} has address ${a}`, record, treatAsGlobal, out);
  return { isLocalhost: j.isLocalhost, isUsable: j.hasGlobal && !j.isLocalhost && !j.hasUnspecified, isUnknown: false };
}

/**
 * The findings about addresses, by class: the same codes whether an address was resolved from a
 * name or written as the exchange itself (an IP literal).
 */
function judgeAddresses(
  addresses: readonly string[],
  subject: (address: string) => string,
  record: string,
  treatAsGlobal: readonly Cidr[],
  out: Draft[],
): { isLocalhost: boolean; hasGlobal: boolean; hasUnspecified: boolean } {
  let isLocalhost = false;
  let hasGlobal = false;
  let hasUnspecified = false;
  for (const a of addresses) {
    const info = classifyAddress(a, treatAsGlobal);
    if (info.isUnspecified) hasUnspecified = true;
    const detail = `${subject(a)} (${info.detail})`;
    if (info.class === 'loopback') {
      isLocalhost = true;
      out.push({ code: 'MX_LOCALHOST', record, detail });
    } else if (info.class === 'private') {
      out.push({ code: 'MX_PRIVATE', record, detail });
    } else if (info.class === 'unroutable' || info.class === 'reserved') {
      out.push({ code: 'MX_UNROUTABLE', record, detail });
    } else {
      hasGlobal = true;
    }
  }
  return { isLocalhost, hasGlobal, hasUnspecified };
}

/** The verdict and findings for one domain. */
export function classifyDomain(facts: DomainFacts, treatAsGlobal: readonly Cidr[] = []): Classification {
  const domain = normalizeName(facts.domain);
  const drafts: Draft[] = [];
  const mx: MxView[] = [];
  const finish = (verdict: Verdict): Classification => ({
    verdict,
    mx,
    findings: drafts.map((d) => ({
      code: d.code,
      severity: d.code === 'NULL_MX' ? 'info' : BREAKING.has(d.code) && (verdict === 'fail' || verdict === 'error') ? 'fail' : 'warn',
      record: d.record,
      detail: d.detail,
    })),
  });

  if (facts.mx.status === 'error') {
    drafts.push({ code: 'LOOKUP_FAILED', record: null, detail: `MX lookup: ${facts.mx.error ?? 'failed'}` });
    return finish('error');
  }
  if (facts.mx.status === 'nxdomain') {
    drafts.push({ code: 'DOMAIN_NXDOMAIN', record: null, detail: `${domain} does not exist (NXDOMAIN)` });
    return finish('fail');
  }

  if (facts.mx.status === 'nodata' || facts.mx.records.length === 0) {
    const look = facts.implicit;
    if (!look || look.status === 'nxdomain' || look.status === 'nodata') {
      drafts.push({ code: 'NO_MAIL', record: null, detail: `${domain} has no MX and no A or AAAA record: nothing receives its mail` });
      return finish('fail');
    }
    const record = `A/AAAA ${domain}.`;
    mx.push({ preference: 0, exchange: domain, addresses: look.addresses, cname: look.cname });
    drafts.push({
      code: 'IMPLICIT_MX',
      record: null,
      detail: `${domain} has no MX: mail goes to its own address (RFC 5321 §5.1 implicit MX)`,
    });
    const t = addressFindings(domain, record, look, treatAsGlobal, drafts);
    if (t.isUnknown) return finish('error');
    return finish(t.isUsable ? 'warn' : 'fail');
  }

  const records = [...facts.mx.records].sort((a, b) => a.preference - b.preference);
  const nulls = records.filter((r) => isRoot(r.exchange));
  if (nulls.length > 0) {
    const isValidNull = records.length === 1 && nulls[0]?.preference === 0;
    if (isValidNull) {
      mx.push({ preference: 0, exchange: '.', addresses: [], cname: [] });
      drafts.push({ code: 'NULL_MX', record: 'MX 0 .', detail: `${domain} declares that it accepts no mail (RFC 7505 null MX)` });
      const sending = (facts.spf ?? []).filter((t) => !/^v=spf1\s+-all\s*$/i.test(t.trim()));
      for (const t of sending) {
        drafts.push({
          code: 'NULL_MX_SENDER_CONFLICT',
          record: `TXT "${t}"`,
          detail: `null MX, but SPF authorizes senders for ${domain}: replies and bounces to it cannot be delivered`,
        });
      }
      return finish('no_mail');
    }
    for (const r of nulls) {
      const why =
        records.length > 1 ? 'the null MX "." must be the only MX record (RFC 7505 §3)' : 'a null MX has preference 0 (RFC 7505 §3)';
      drafts.push({ code: 'NULL_MX_INVALID', record: mxRecordText(r), detail: why });
    }
  }

  const seen = new Set<string>();
  const targets: Target[] = [];
  for (const r of records) {
    if (isRoot(r.exchange)) {
      mx.push({ preference: r.preference, exchange: '.', addresses: [], cname: [] });
      continue;
    }
    const name = normalizeName(r.exchange);
    const record = mxRecordText(r);
    const look = facts.exchanges.get(name);
    mx.push({ preference: r.preference, exchange: name, addresses: look?.addresses ?? [], cname: look?.cname ?? [] });
    if (seen.has(name)) {
      drafts.push({ code: 'MX_DUPLICATE_HOST', record, detail: `${name} appears in more than one MX record` });
    }
    seen.add(name);
    if (looksLikeMissingTrailingDot(name, domain)) {
      drafts.push({
        code: 'MX_TRAILING_DOT',
        record,
        detail: `${name} looks like a name written without its trailing dot in the zone file`,
      });
    }
    if (isIpLiteral(name)) {
      drafts.push({ code: 'MX_IP_LITERAL', record, detail: `the exchange must be a host name, not an address (RFC 5321 §5.1)` });
      // a mail server may still connect to the address it names (Postfix does): judge it as resolved
      const address = literalAddress(name);
      const j = judgeAddresses(address === null ? [] : [address], (a) => `the exchange is the address ${a}`, record, treatAsGlobal, drafts);
      targets.push({ preference: r.preference, record, isLocalhost: j.isLocalhost, isUsable: false, isUnknown: false });
      continue;
    }
    if (isLocalhostName(name)) {
      drafts.push({ code: 'MX_LOCALHOST', record, detail: `${name} is the local host (RFC 6761): senders deliver to themselves` });
      targets.push({ preference: r.preference, record, isLocalhost: true, isUsable: false, isUnknown: false });
      continue;
    }
    const tld = specialUseTld(name);
    if (tld !== null) {
      drafts.push({ code: 'MX_SPECIAL_USE', record, detail: `.${tld} is a special-use name that never resolves` });
      drafts.push({ code: 'MX_UNRESOLVABLE', record, detail: `${name} never resolves (special-use .${tld})` });
      targets.push({ preference: r.preference, record, isLocalhost: false, isUsable: false, isUnknown: false });
      continue;
    }
    if (!look) {
      drafts.push({ code: 'LOOKUP_FAILED', record, detail: `addresses of ${name} were not looked up` });
      targets.push({ preference: r.preference, record, isLocalhost: false, isUsable: false, isUnknown: true });
      continue;
    }
    const t = addressFindings(name, record, look, treatAsGlobal, drafts);
    if (look.status === 'nxdomain') {
      const reg = registrableDomain(look.cname[look.cname.length - 1] ?? name);
      if (facts.missingDomains.has(reg)) {
        drafts.push({
          code: 'MX_DANGLING',
          record,
          detail: `the exchange's registrable domain ${reg} does not exist: whoever registers it receives the mail`,
        });
      }
    }
    targets.push({ preference: r.preference, record, ...t });
  }

  // RFC 5321 §5.1: a sender that finds itself (here: the local host) discards that MX and every
  // MX at or above its preference.
  const localPrefs = targets.filter((t) => t.isLocalhost).map((t) => t.preference);
  const cutoff = localPrefs.length > 0 ? Math.min(...localPrefs) : Infinity;
  const candidates = targets.filter((t) => t.preference < cutoff);
  const isUsable = candidates.some((t) => t.isUsable);
  if (nulls.length > 0) return finish('fail');
  if (isUsable) return finish(drafts.length > 0 ? 'warn' : 'ok');
  if (candidates.some((t) => t.isUnknown)) return finish('error');
  return finish('fail');
}

/** Rank of a verdict against `--fail-on`: ok and no_mail never fail, warn is 1, fail and error 2. */
export function verdictRank(v: Verdict): number {
  return v === 'warn' ? 1 : v === 'fail' || v === 'error' ? 2 : 0;
}
