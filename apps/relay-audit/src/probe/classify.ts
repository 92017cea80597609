/**
 * Replies to classes, classes to verdicts. Pure. The most specific class wins: an address form the
 * server refuses as syntax is a PROTOCOL_ERROR even though it is also a 5xx.
 */

export type ProbeClass =
  'ACCEPTED_RCPT' | 'ACCEPTED_DATA' | 'PROTOCOL_ERROR' | 'NEEDS_TLS' | 'NEEDS_AUTH' | 'DENIED' | 'TEMPFAIL' | 'CONN_LOST';

export type Stage = 'CONNECT' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA';

export type Verdict = 'open' | 'closed' | 'inconclusive';

const RELAY_TEXT = /relay/i;
const TLS_TEXT = /tls|starttls|encrypt/i;
const SYNTAX_CODES = new Set([500, 501, 504, 553, 555]);

/** The class of one refused or accepted reply at a stage. `code` NaN means no reply (lost). */
export function classifyReply(stage: Stage, code: number, text: string): ProbeClass {
  if (!Number.isFinite(code)) return 'CONN_LOST';
  if (code >= 200 && code < 300) return stage === 'DATA' ? 'ACCEPTED_DATA' : 'ACCEPTED_RCPT';
  if (code === 530 || (code === 554 && /auth/i.test(text) && !RELAY_TEXT.test(text))) {
    return TLS_TEXT.test(text) ? 'NEEDS_TLS' : 'NEEDS_AUTH';
  }
  if (code === 535 || code === 538) return code === 538 ? 'NEEDS_TLS' : 'NEEDS_AUTH';
  if (code === 421) return 'CONN_LOST';
  if (code >= 400 && code < 500) return RELAY_TEXT.test(text) ? 'DENIED' : 'TEMPFAIL';
  if (code >= 500 && code < 600) {
    if (RELAY_TEXT.test(text)) return 'DENIED';
    if (SYNTAX_CODES.has(code)) return 'PROTOCOL_ERROR';
    return 'DENIED';
  }
  return 'CONN_LOST';
}

export function isAccepted(c: ProbeClass): boolean {
  return c === 'ACCEPTED_RCPT' || c === 'ACCEPTED_DATA';
}

/**
 * A vantage's verdict: `open` when any external recipient was accepted; `closed` when every probe
 * got a definite refusal; `inconclusive` when nothing was accepted but some probe was cut short
 * (a tempfail, a lost connection) or there were no probes at all.
 */
export function verdictOf(classes: readonly ProbeClass[]): Verdict {
  if (classes.some(isAccepted)) return 'open';
  if (classes.length === 0 || classes.some((c) => c === 'TEMPFAIL' || c === 'CONN_LOST')) return 'inconclusive';
  return 'closed';
}

/** The overall verdict: open beats inconclusive beats closed. */
export function overallVerdict(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('open')) return 'open';
  if (verdicts.length === 0 || verdicts.includes('inconclusive')) return 'inconclusive';
  return 'closed';
}

/** What sendmail-like MTAs print in the EHLO greeting: "Hello NAME [IP]" (also "Hello [IP]"). */
export function seenAs(ehloReply: string): { name: string | null; address: string | null; text: string } {
  const first = ehloReply.split('\n')[0] ?? '';
  const m = /Hello\s+(?:(\S+)\s+)?\[([^\]]+)\]/i.exec(first) ?? /\[([0-9A-Fa-f:.]+)\]/.exec(first);
  if (m === null) return { name: null, address: null, text: first };
  if (m.length === 2) return { name: null, address: m[1] ?? null, text: first };
  return { name: m[1] ?? null, address: m[2]?.replace(/^IPv6:/i, '') ?? null, text: first };
}
