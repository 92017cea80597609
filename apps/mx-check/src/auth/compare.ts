/**
 * From what each authoritative server of a zone said to findings: servers that disagree on the MX
 * set (AUTH_DIFFER), that serve an older copy of the zone (AUTH_STALE, RFC 1982 serials), that do
 * not answer authoritatively (AUTH_LAME, RFC 2181 §6.1 / RFC 1034 §4.3.1: an answer from the zone
 * carries the AA bit), and name servers that do not resolve (AUTH_NS_UNRESOLVABLE). Pure.
 */
import type { Finding, Verdict } from '../classify/classify-mx.js';
import { compareSerial, newestSerial } from './serial.js';

export type LameHow = 'timeout' | 'unreachable' | 'refused' | 'servfail' | 'rcode' | 'referral' | 'not_authoritative' | 'no_soa';

/** One address of one listed name server, and what it said. */
export interface ServerAnswer {
  /** The NS name, lower case, without the final dot. */
  ns: string;
  address: string;
  /** null: it answered both questions authoritatively. */
  lame: { how: LameHow; detail: string } | null;
  /** Not asked: this machine has no route to the address (an IPv6 server on an IPv4-only host). */
  skipped?: string;
  /** The zone's SOA serial as this server gives it; null when lame or skipped. */
  serial: number | null;
  /** The MX question's rcode (NOERROR or NXDOMAIN); null when lame or skipped. */
  rcode: string | null;
  /** Its MX set, `PREFERENCE EXCHANGE` sorted (`0 .` for a null MX); null when lame or skipped. */
  mx: string[] | null;
}

export interface AuthReport {
  /** The zone the domain's MX records live in; null when its NS set could not be found. */
  zone: string | null;
  /** The zone's NS names, sorted. */
  ns: string[];
  servers: ServerAnswer[];
  /** NS names without a single address, and why. */
  unresolvable: { ns: string; why: string }[];
  /** Why the NS set could not be found (the lookup failed). */
  error?: string;
}

export const serverText = (s: Pick<ServerAnswer, 'ns' | 'address'>): string => `${s.ns} (${s.address})`;

/** The MX set as text: records, `no MX` (NODATA) or `NXDOMAIN`. */
export function mxSetText(s: Pick<ServerAnswer, 'rcode' | 'mx'>): string {
  if (s.rcode === 'NXDOMAIN') return 'NXDOMAIN';
  return s.mx && s.mx.length > 0 ? s.mx.join(', ') : 'no MX';
}

const fail = (code: Finding['code'], record: string | null, detail: string): Finding => ({ code, severity: 'fail', record, detail });

export function authFindings(domain: string, r: AuthReport): Finding[] {
  if (r.zone === null) return [fail('LOOKUP_FAILED', null, `NS lookup: ${r.error ?? `no NS set found for ${domain} or above`}`)];
  const findings: Finding[] = [];
  const isNowhere = r.unresolvable.length > 0 && r.servers.length === 0;
  for (const u of r.unresolvable) {
    const tail = isNowhere ? `; no name server of ${r.zone} resolves: a delegation to nowhere` : '';
    findings.push(fail('AUTH_NS_UNRESOLVABLE', `NS ${u.ns}.`, `${u.ns} has no address (${u.why}): no resolver can ask it${tail}`));
  }
  for (const s of r.servers) {
    if (s.lame)
      findings.push(fail('AUTH_LAME', `NS ${s.ns}.`, `${serverText(s)} does not answer authoritatively for ${r.zone}: ${s.lame.detail}`));
  }
  const good = r.servers.filter((s) => s.lame === null && s.skipped === undefined);
  if (r.servers.length > 0 && good.length === 0 && r.servers.every((s) => s.skipped !== undefined)) {
    findings.push(
      fail(
        'LOOKUP_FAILED',
        null,
        `no authoritative server of ${r.zone} could be asked from here (${r.servers.map((s) => `${serverText(s)}: ${s.skipped ?? ''}`).join('; ')})`,
      ),
    );
  }

  const groups = new Map<string, ServerAnswer[]>();
  for (const s of good) {
    const key = `${s.rcode ?? ''} ${(s.mx ?? []).join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  if (groups.size > 1) {
    const says = [...groups.values()].map((g) => `${g.map(serverText).join(', ')}: ${mxSetText(g[0] as ServerAnswer)}`).join(' | ');
    const serials = new Set(good.map((s) => s.serial));
    const [only] = serials;
    const sameSerial =
      serials.size === 1 && only !== null && only !== undefined ? `; all at serial ${only}: the zone was changed without a new serial` : '';
    findings.push(fail('AUTH_DIFFER', null, `the authoritative servers give different MX sets for ${domain}: ${says}${sameSerial}`));
  }

  const withSerial = good.filter((s): s is ServerAnswer & { serial: number } => s.serial !== null);
  const newest = newestSerial(withSerial.map((s) => s.serial));
  if (newest.isOrdered) {
    const holders = withSerial
      .filter((s) => s.serial === newest.newest)
      .map(serverText)
      .join(', ');
    for (const s of withSerial) {
      if (compareSerial(s.serial, newest.newest) === -1) {
        findings.push(
          fail(
            'AUTH_STALE',
            `NS ${s.ns}.`,
            `${serverText(s)} serves serial ${s.serial} of ${r.zone}, older than ${newest.newest} at ${holders}`,
          ),
        );
      }
    }
  } else if (withSerial.length > 0) {
    findings.push(
      fail(
        'AUTH_STALE',
        null,
        `the serials of ${r.zone} cannot be ordered (RFC 1982: too far apart): ${withSerial.map((s) => `${serverText(s)} ${s.serial}`).join(', ')}`,
      ),
    );
  }
  return findings;
}

/** What withAuthoritative reads of a domain's result (check/check.ts's CheckResult, which imports this module). */
interface AuthJudged {
  domain: string;
  verdict: Verdict;
  findings: Finding[];
}

/**
 * The domain's result with the authoritative servers' findings added. Each makes the domain `fail`
 * (mail then depends on which server a sender's resolver happens to ask); a failed NS lookup makes
 * it `error`, as a failed MX lookup does.
 */
export function withAuthoritative<R extends AuthJudged>(result: R, report: AuthReport): R & { authoritative: AuthReport } {
  const found = authFindings(result.domain, report);
  let verdict: Verdict = result.verdict;
  if (found.some((f) => f.code === 'LOOKUP_FAILED')) verdict = 'error';
  else if (found.length > 0 && verdict !== 'error') verdict = 'fail';
  return { ...result, verdict, findings: [...result.findings, ...found], authoritative: report };
}
