/**
 * Parses one BIND query-log line, every shape named has written from 9.3 to 9.21, into a typed
 * record, or says why the line is not one. Pure: no IO, no clock; the caller passes a context.
 *
 * What BIND writes (lib/isc/log.c, lib/ns/client.c `ns_client_logv`, lib/ns/query.c `log_query`):
 *
 *   [TIME ][CATEGORY: ][SEVERITY: ]client [@0xPTR ]ADDR#PORT[/key SIGNER][ (QNAME)][: view VIEW]: query: \
 *     QNAME CLASS TYPE FLAGS[ (DEST)][ [ECS ADDR/SOURCE/SCOPE]]
 *
 * - TIME (`print-time`): `25-Nov-2026 09:38:30.348`, or ISO 8601 (`print-time iso8601`:
 *   `2026-11-25T09:38:30.348`; `iso8601-utc`: `…Z`; 9.21 `iso8601-tzinfo`: `…+0100`).
 * - or a syslog header instead: `[<PRI>]Nov 25 09:38:30 HOST named[PID]: `, the RFC 3339 form rsyslog
 *   writes (`2026-11-25T09:38:30.348+01:00 HOST named[PID]: `), or RFC 5424
 *   (`<30>1 2026-11-25T09:38:30.348+01:00 HOST named PID - - `).
 * - `@0xPTR` since 9.11; `(QNAME)` since 9.9; `(DEST)` since 9.10; `[ECS …]` since 9.11. The trailing
 *   `(DEST)` and `[ECS …]` are optional in every shape and time format (builds and versions differ);
 *   a line is rejected only when a field every shape has is missing or malformed. The parser cannot
 *   tell a line cut after a flag letter from a whole one: the line reader flags a last line without
 *   its newline, and the caller rejects it as `truncated`.
 * - FLAGS: `+`/`-` (RD), then `S` (signed), `E` (EDNS; `E(n)` with its version since 9.11), `T` (TCP),
 *   `D` (DO), `C` (CD), `V` (valid server cookie) or `K` (a cookie). Decoded in any order.
 *
 * Times are kept as the wall clock written, `YYYY-MM-DD HH:MM:SS.mmm`, never converted: a line written
 * with `iso8601-utc` gives UTC digits, and `zone` keeps the suffix as written (`Z`, `+01:00`, `+0100`)
 * for a caller that wants to convert. Names (qname, signer, view) are kept exactly as written, BIND's
 * escapes (`\DDD`, `\.`, `\"`, `\\`) included.
 *
 * Speed: indexOf/charCodeAt scanning with no backtracking, one single-character-class regex for the
 * printable-ASCII check (linear, and faster than a charCodeAt loop in V8), a per-input cache of the
 * last converted second, and no allocation on a rejected line (rejects are shared frozen objects). A
 * record allocates itself and its substrings, nothing else. About 1M lines/s on one core.
 */

import type { QueryRow } from '../store/row.js';

/** Why a line is not a row. Stable: callers count by these codes and tests match them. */
export type RejectReason =
  /** An empty line. */
  | 'empty'
  /** Longer than MAX_LINE_LENGTH: BIND never writes such a line (its log buffer is 8 KiB). */
  | 'too_long'
  /** A character outside printable ASCII (BIND escapes every other byte of a name as `\DDD`). */
  | 'binary'
  /** A timestamp that is not a valid date and time. */
  | 'bad_time'
  /** A well-formed line of another kind: another category, `denied`, `query failed`, another program. */
  | 'not_query'
  /** The line ends before its query does (a crash, a full disk, a cut file). */
  | 'truncated'
  /** The client address or port is not an address and a port. */
  | 'bad_client'
  /** A flags field with a letter BIND does not write. */
  | 'bad_flags'
  /** Anything else that does not fit the grammar. */
  | 'malformed';

/** Every reject reason, in a stable order (for summaries). */
export const REJECT_REASONS: readonly RejectReason[] = [
  'empty',
  'too_long',
  'binary',
  'bad_time',
  'not_query',
  'truncated',
  'bad_client',
  'bad_flags',
  'malformed',
];

export interface Reject {
  readonly kind: 'reject';
  readonly reason: RejectReason;
}

/**
 * One query: the stored row's fields (row.ts documents each), except that the time may be missing
 * (a log written without print-time) and the zone suffix of an ISO time is kept. A record with a
 * time is stored as it is.
 */
export interface QueryRecord extends Omit<QueryRow, 'time' | 'clientPort'> {
  readonly kind: 'query';
  /** Wall clock as written, `YYYY-MM-DD HH:MM:SS.mmm` (milliseconds kept; `.000` if none), or null. */
  time: string | null;
  /** The zone suffix as written after an ISO time (`Z`, `+01:00`, `+0100`), else null. */
  zone: string | null;
  clientPort: number;
}

export type ParseResult = QueryRecord | Reject;

/**
 * What parsing one input needs besides its lines. Syslog timestamps have no year: it is inferred
 * from the reference date (a line is never later than the file's mtime, so a December line in a file
 * last written in January is from the previous year), then carried from line to line so that an input
 * running Dec 31 → Jan 1 moves to the next year. One context per input; do not share.
 */
export interface ParseContext {
  /** Reference date (e.g. the file's mtime), local wall clock. */
  readonly refYear: number;
  readonly refMonth: number;
  readonly refDay: number;
  /** Year and month of the latest dated line (0 before the first). */
  year: number;
  month: number;
  /**
   * Parse state, per timestamp kind (BIND, ISO 8601, syslog): the last timestamp's text up to its
   * seconds, its conversion, and the year and month it set.
   */
  readonly timeRaw: string[];
  readonly timeText: string[];
  readonly timeYear: number[];
  readonly timeMonth: number[];
}

/** A context for one input whose lines were written no later than `reference` (its mtime, or now). */
export function createParseContext(reference: Date, zoneOffsetMs?: number): ParseContext {
  // The reference's date where the log was written: with the zone's offset given, else this host's.
  const at = zoneOffsetMs === undefined ? null : new Date(reference.getTime() + zoneOffsetMs);
  return {
    refYear: at === null ? reference.getFullYear() : at.getUTCFullYear(),
    refMonth: at === null ? reference.getMonth() + 1 : at.getUTCMonth() + 1,
    refDay: at === null ? reference.getDate() : at.getUTCDate(),
    year: 0,
    month: 0,
    timeRaw: ['', '', '', ''],
    timeText: ['', '', '', ''],
    timeYear: [0, 0, 0, 0],
    timeMonth: [0, 0, 0, 0],
  };
}

/** Longer lines are rejected unparsed. BIND's own log buffer is 8 KiB; this leaves room for a prefix. */
export const MAX_LINE_LENGTH = 16384;

const REJECTS: Readonly<Record<RejectReason, Reject>> = Object.freeze(
  Object.fromEntries(REJECT_REASONS.map((reason) => [reason, Object.freeze({ kind: 'reject', reason })])) as Record<RejectReason, Reject>,
);

// Internal error codes (negative positions) so that helpers return a position or a reason without allocating.
const E_TRUNCATED = -1;
const E_BAD_TIME = -2;
const E_MALFORMED = -3;
const E_NOT_QUERY = -4;
const E_BAD_CLIENT = -5;
const E_BAD_FLAGS = -6;

function rejectFor(code: number): Reject {
  switch (code) {
    case E_TRUNCATED:
      return REJECTS.truncated;
    case E_BAD_TIME:
      return REJECTS.bad_time;
    case E_NOT_QUERY:
      return REJECTS.not_query;
    case E_BAD_CLIENT:
      return REJECTS.bad_client;
    case E_BAD_FLAGS:
      return REJECTS.bad_flags;
    default:
      return REJECTS.malformed;
  }
}

/** Anything but tab and printable ASCII. A CR is allowed only as the line's last character. */
const NOT_PRINTABLE = /[^\t\x20-\x7e]/g;

/**
 * `s.startsWith(lit, p)`. indexOf is several times faster in V8 for these short literals, but on a
 * miss it scans the rest of the line: the first character is compared first so most misses cost one.
 */
function at(s: string, lit: string, p: number): boolean {
  return s.charCodeAt(p) === lit.charCodeAt(0) && s.indexOf(lit, p) === p;
}

/** The class or type at [a, b): a shared string for the common ones (fewer allocations), else a slice. */
function mnemonic(s: string, a: number, b: number): string {
  switch (b - a) {
    case 1:
      if (s.charCodeAt(a) === 65) return 'A';
      break;
    case 2:
      if (s.charCodeAt(a) === 73 && s.charCodeAt(a + 1) === 78) return 'IN';
      break;
    case 4:
      if (s.charCodeAt(a) === 65 && s.charCodeAt(a + 1) === 65 && s.charCodeAt(a + 2) === 65 && s.charCodeAt(a + 3) === 65) return 'AAAA';
      break;
  }
  return s.slice(a, b);
}

/** Whether the line ends at p with the start of `a` or of `b`: cut short rather than different. */
function cutShort(s: string, p: number, end: number, a: string, b: string): boolean {
  const rest = s.slice(p, end);
  return a.startsWith(rest) || b.startsWith(rest);
}

/** The last index of `#` in [from, to), or -1; indexOf is much faster than lastIndexOf in V8. */
function lastHash(s: string, from: number, to: number): number {
  let last = -1;
  let i = s.indexOf('#', from);
  while (i !== -1 && i < to) {
    last = i;
    i = s.indexOf('#', i + 1);
  }
  return last;
}

const CH_SPACE = 32;
const CH_LPAREN = 40;
const CH_RPAREN = 41;
const CH_PLUS = 43;
const CH_COMMA = 44;
const CH_MINUS = 45;
const CH_DOT = 46;
const CH_SLASH = 47;
const CH_0 = 48;
const CH_COLON = 58;
const CH_LT = 60;
const CH_AT = 64;
const CH_LBRACKET = 91;
const CH_RBRACKET = 93;
const CH_T = 84;
const CH_Z = 90;

const MONTH_DIGITS = ['', '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12'];
const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** 1-12 for an English month abbreviation at i (`Jan`…`Dec`), else 0. */
function monthAt(s: string, i: number): number {
  const b = s.charCodeAt(i + 1);
  const c = s.charCodeAt(i + 2);
  switch (s.charCodeAt(i)) {
    case 74: // J
      if (b === 97) return c === 110 ? 1 : 0; // Jan
      if (b === 117) return c === 110 ? 6 : c === 108 ? 7 : 0; // Jun Jul
      return 0;
    case 70: // F
      return b === 101 && c === 98 ? 2 : 0; // Feb
    case 77: // M
      return b === 97 ? (c === 114 ? 3 : c === 121 ? 5 : 0) : 0; // Mar May
    case 65: // A
      if (b === 112) return c === 114 ? 4 : 0; // Apr
      return b === 117 && c === 103 ? 8 : 0; // Aug
    case 83: // S
      return b === 101 && c === 112 ? 9 : 0; // Sep
    case 79: // O
      return b === 99 && c === 116 ? 10 : 0; // Oct
    case 78: // N
      return b === 111 && c === 118 ? 11 : 0; // Nov
    case 68: // D
      return b === 101 && c === 99 ? 12 : 0; // Dec
    default:
      return 0;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

/** Two decimal digits at i, or -1. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - CH_0;
  const b = s.charCodeAt(i + 1) - CH_0;
  // Written so that NaN (past the end of the string) fails too.
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9)) return -1;
  return a * 10 + b;
}

/** Four decimal digits at i, or -1. */
function fourDigits(s: string, i: number): number {
  const hi = twoDigits(s, i);
  const lo = twoDigits(s, i + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

function validDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  if (month === 2 && day === 29) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (DAYS_IN_MONTH[month] ?? 0);
}

/** `HH:MM:SS` at i (a leap second allowed). */
function validClock(s: string, i: number): boolean {
  if (s.charCodeAt(i + 2) !== CH_COLON || s.charCodeAt(i + 5) !== CH_COLON) return false;
  const h = twoDigits(s, i);
  const m = twoDigits(s, i + 3);
  const sec = twoDigits(s, i + 6);
  return h >= 0 && h <= 23 && m >= 0 && m <= 59 && sec >= 0 && sec <= 60;
}

const TIME_NONE = 0;
const TIME_BIND = 1;
const TIME_ISO = 2;
const TIME_SYSLOG = 3;

// Results of the time readers, passed back through module state rather than a tuple per line.
let readTime: string | null = null;
let readZone: string | null = null;
let timeKind = TIME_NONE;
/** `YYYY-MM-DD HH:MM:SS` of the time just read (the part before the fraction). */
let timePrefix = '';
/** `.mmm` of the fraction just read. */
let fracText = '.000';

/** An optional fraction at i (`.` or `,` then digits) → position after it, and fracText (`.mmm`). */
function readFraction(s: string, i: number, end: number): number {
  const c = i < end ? s.charCodeAt(i) : 0;
  if (c !== CH_DOT && c !== CH_COMMA) {
    fracText = '.000';
    return i;
  }
  let j = i + 1;
  while (j < end && isDigit(s.charCodeAt(j))) j++;
  const n = j - i - 1;
  if (n === 0) return j >= end ? E_TRUNCATED : E_BAD_TIME;
  if (n === 3 && c === CH_DOT) fracText = s.slice(i, j);
  else if (n >= 3) fracText = `.${s.slice(i + 1, i + 4)}`;
  else fracText = `.${s.slice(i + 1, j)}${n === 1 ? '00' : '0'}`;
  return j;
}

/** An optional zone at q (`Z`, `±HH`, `±HHMM`, `±HH:MM`) → position after it, and readZone. */
function readZoneAt(s: string, q: number, end: number): number {
  readZone = null;
  const z = q < end ? s.charCodeAt(q) : 0;
  if (z === CH_Z) {
    readZone = 'Z';
    return q + 1;
  }
  if (z !== CH_PLUS && z !== CH_MINUS) return q;
  const zs = q;
  if (twoDigits(s, q + 1) < 0) return end - q < 3 ? E_TRUNCATED : E_BAD_TIME;
  q += 3;
  if (q < end && s.charCodeAt(q) === CH_COLON) q++;
  if (q < end && isDigit(s.charCodeAt(q))) {
    if (twoDigits(s, q) < 0) return end - q < 2 ? E_TRUNCATED : E_BAD_TIME;
    q += 2;
  } else if (s.charCodeAt(q - 1) === CH_COLON) {
    return q >= end ? E_TRUNCATED : E_BAD_TIME;
  }
  readZone = s.slice(zs, q);
  return q;
}

/** `25-Nov-2026 09:38:30` at p → position after the seconds, and timePrefix. */
function readBindTime(s: string, p: number, end: number, ctx: ParseContext): number {
  if (end - p < 20) return E_TRUNCATED;
  if (s.charCodeAt(p + 2) !== CH_MINUS || s.charCodeAt(p + 6) !== CH_MINUS || s.charCodeAt(p + 11) !== CH_SPACE) {
    return E_BAD_TIME;
  }
  const day = twoDigits(s, p);
  const month = monthAt(s, p + 3);
  const year = fourDigits(s, p + 7);
  if (day < 0 || year < 0 || !validDate(year, month, day) || !validClock(s, p + 12)) return E_BAD_TIME;
  timePrefix = `${s.slice(p + 7, p + 11)}-${MONTH_DIGITS[month]}-${s.slice(p, p + 2)} ${s.slice(p + 12, p + 20)}`;
  ctx.year = year;
  ctx.month = month;
  return p + 20;
}

/** `2026-11-25T09:38:30` (or with a space for the T) at p → position after the seconds, and timePrefix. */
function readIsoTime(s: string, p: number, end: number, ctx: ParseContext): number {
  if (end - p < 19) return E_TRUNCATED;
  const c10 = s.charCodeAt(p + 10);
  if (s.charCodeAt(p + 4) !== CH_MINUS || s.charCodeAt(p + 7) !== CH_MINUS || (c10 !== CH_T && c10 !== CH_SPACE)) {
    return E_BAD_TIME;
  }
  const year = fourDigits(s, p);
  const month = twoDigits(s, p + 5);
  const day = twoDigits(s, p + 8);
  if (year < 0 || !validDate(year, month, day) || !validClock(s, p + 11)) return E_BAD_TIME;
  timePrefix = c10 === CH_SPACE ? s.slice(p, p + 19) : `${s.slice(p, p + 10)} ${s.slice(p + 11, p + 19)}`;
  ctx.year = year;
  ctx.month = month;
  return p + 19;
}

/** `Nov 25 09:38:30` (or `Nov  5 …`) at p → position after the seconds, and timePrefix, year inferred. */
function readSyslogTime(s: string, p: number, end: number, ctx: ParseContext): number {
  if (end - p < 15) return E_TRUNCATED;
  const month = monthAt(s, p);
  if (month === 0 || s.charCodeAt(p + 3) !== CH_SPACE || s.charCodeAt(p + 6) !== CH_SPACE) return E_BAD_TIME;
  let day: number;
  let dayText: string;
  if (s.charCodeAt(p + 4) === CH_SPACE) {
    day = s.charCodeAt(p + 5) - CH_0;
    if (!(day >= 1 && day <= 9)) return E_BAD_TIME;
    dayText = `0${day}`;
  } else {
    day = twoDigits(s, p + 4);
    dayText = s.slice(p + 4, p + 6);
  }
  if (day < 1 || !validClock(s, p + 7)) return E_BAD_TIME;
  const year = syslogYear(ctx, month, day);
  if (!validDate(year, month, day)) return E_BAD_TIME;
  timePrefix = `${year}-${MONTH_DIGITS[month]}-${dayText} ${s.slice(p + 7, p + 15)}`;
  ctx.year = year;
  ctx.month = month;
  return p + 15;
}

/**
 * The year of a syslog line. The first dated line of an input takes the latest year (of the
 * reference's, the one after and the one before) in which its date is not more than a day after the
 * reference's date: a day of slack absorbs time zones and clock skew, across a month end or New
 * Year too (a reference of Dec 31 makes "Jan 1" next year's; one of Apr 30 keeps "May 1" in this
 * year). Later lines follow the previous one: a month jump back of six or more (Dec → Jan) is a
 * new year; a jump forward of six or more (Jan → Dec, lines out of order around New Year) the
 * previous one.
 */
function syslogYear(ctx: ParseContext, month: number, day: number): number {
  if (ctx.year === 0) return firstSyslogYear(ctx, month, day);
  const delta = month - ctx.month;
  return delta <= -6 ? ctx.year + 1 : delta >= 6 ? ctx.year - 1 : ctx.year;
}

const DAY_MS = 86_400_000;

function firstSyslogYear(ctx: ParseContext, month: number, day: number): number {
  const latest = Date.UTC(ctx.refYear, ctx.refMonth - 1, ctx.refDay) + DAY_MS;
  for (let year = ctx.refYear + 1; year >= ctx.refYear - 1; year--) {
    // A date that does not exist in that year (Feb 29) is not a candidate.
    if (validDate(year, month, day) && Date.UTC(year, month - 1, day) <= latest) return year;
  }
  return ctx.refYear;
}

/**
 * Reads a timestamp at p if there is one (BIND's own, ISO 8601, or a year-less syslog one): sets
 * timeKind, readTime and readZone; returns the position after it (p itself when there is none) or an
 * error code. Log lines come in time order, many to a second: the last second read of each kind is
 * cached in the context, so most lines only compare their first 15-20 characters with it.
 */
function readAnyTime(s: string, p: number, end: number, ctx: ParseContext): number {
  let kind: number;
  const c = s.charCodeAt(p);
  if (isDigit(c)) {
    kind = p + 4 < end && s.charCodeAt(p + 4) === CH_MINUS && isDigit(s.charCodeAt(p + 3)) ? TIME_ISO : TIME_BIND;
  } else if (isUpper(c) && p + 3 < end && s.charCodeAt(p + 3) === CH_SPACE && monthAt(s, p) !== 0) {
    kind = TIME_SYSLOG;
  } else {
    timeKind = TIME_NONE;
    return p;
  }
  timeKind = kind;
  let q: number;
  const cached = ctx.timeRaw[kind] ?? '';
  // A syslog year depends on the state it was inferred from: reuse it only from the same state.
  if (
    cached !== '' &&
    at(s, cached, p) &&
    (kind !== TIME_SYSLOG || (ctx.year === ctx.timeYear[kind] && ctx.month === ctx.timeMonth[kind]))
  ) {
    q = p + cached.length;
    timePrefix = ctx.timeText[kind] ?? '';
    ctx.year = ctx.timeYear[kind] ?? 0;
    ctx.month = ctx.timeMonth[kind] ?? 0;
  } else {
    q =
      kind === TIME_ISO ? readIsoTime(s, p, end, ctx) : kind === TIME_BIND ? readBindTime(s, p, end, ctx) : readSyslogTime(s, p, end, ctx);
    if (q < 0) return q;
    ctx.timeRaw[kind] = s.slice(p, q);
    ctx.timeText[kind] = timePrefix;
    ctx.timeYear[kind] = ctx.year;
    ctx.timeMonth[kind] = ctx.month;
  }
  q = readFraction(s, q, end);
  if (q < 0) return q;
  if (kind === TIME_ISO) {
    q = readZoneAt(s, q, end);
    if (q < 0) return q;
  } else {
    readZone = null;
  }
  readTime = timePrefix + fracText;
  return q;
}

/** Skips `HOST TAG: ` (or `TAG: ` when the host is left out) after a syslog timestamp. */
function skipSyslogHostTag(s: string, p: number, end: number): number {
  const sp1 = s.indexOf(' ', p);
  if (sp1 === -1 || sp1 >= end) return E_TRUNCATED;
  if (sp1 === p) return E_MALFORMED;
  if (s.charCodeAt(sp1 - 1) === CH_COLON) return sp1 + 1;
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 === -1 || sp2 >= end) return E_TRUNCATED;
  if (sp2 === sp1 + 1 || s.charCodeAt(sp2 - 1) !== CH_COLON) return E_NOT_QUERY;
  return sp2 + 1;
}

/** Skips one RFC 5424 header field (a token then a space). */
function skipField(s: string, p: number, end: number): number {
  const sp = s.indexOf(' ', p);
  if (sp === -1 || sp >= end) return E_TRUNCATED;
  return sp === p ? E_MALFORMED : sp + 1;
}

/**
 * After `<PRI>1 `: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]. Sets readTime.
 */
function readRfc5424(s: string, p: number, end: number, ctx: ParseContext): number {
  if (p >= end) return E_TRUNCATED;
  if (s.charCodeAt(p) === CH_MINUS) {
    readTime = null;
    readZone = null;
    p++;
  } else {
    p = readAnyTime(s, p, end, ctx);
    if (p < 0) return p;
    if (timeKind !== TIME_ISO) return E_BAD_TIME;
  }
  if (p >= end) return E_TRUNCATED;
  if (s.charCodeAt(p) !== CH_SPACE) return E_BAD_TIME;
  p++;
  for (let k = 0; k < 3 && p >= 0; k++) p = skipField(s, p, end); // HOSTNAME APP-NAME PROCID
  if (p < 0) return p;
  p = skipField(s, p, end); // MSGID
  if (p < 0) return p;
  // STRUCTURED-DATA: "-" or one or more [ID PARAM="VALUE" …] with \] \" \\ escapes in values.
  if (s.charCodeAt(p) === CH_MINUS) {
    p++;
  } else {
    while (p < end && s.charCodeAt(p) === CH_LBRACKET) {
      let q = p + 1;
      let inQuote = false;
      for (; q < end; q++) {
        const c = s.charCodeAt(q);
        if (inQuote) {
          if (c === 92) q++;
          else if (c === 34) inQuote = false;
        } else if (c === 34) {
          inQuote = true;
        } else if (c === CH_RBRACKET) {
          break;
        }
      }
      if (q >= end) return E_TRUNCATED;
      p = q + 1;
    }
  }
  if (p >= end) return E_TRUNCATED;
  if (s.charCodeAt(p) !== CH_SPACE) return E_MALFORMED;
  return p + 1;
}

/** An address as isc_netaddr_format writes it: hex digits, dots and colons, an optional %scope. */
function isAddress(s: string, a: number, b: number): boolean {
  if (a >= b) return false;
  let sep = false;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c === CH_DOT || c === CH_COLON) sep = true;
    else if (c === 37 /* % */) return sep && i > a && i + 1 < b;
    else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return sep;
}

/** A port of 1-5 digits at [a, b) up to 65535, or -1. */
function portAt(s: string, a: number, b: number): number {
  if (b <= a || b - a > 5) return -1;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = s.charCodeAt(i) - CH_0;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= 65535 ? v : -1;
}

/** A class or type mnemonic: upper-case letters, digits, `-` (`NSAP-PTR`), e.g. `IN`, `CLASS255`, `TYPE65`. */
function isMnemonic(s: string, a: number, b: number): boolean {
  if (a >= b) return false;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (!(isUpper(c) || isDigit(c) || (c === CH_MINUS && i > a))) return false;
  }
  return true;
}

/** Parses one line (without its newline; a trailing CR is ignored). */
export function parseQueryLine(line: string, ctx: ParseContext): ParseResult {
  let end = line.length;
  if (end === 0) return REJECTS.empty;
  if (end > MAX_LINE_LENGTH) return REJECTS.too_long;
  if (line.charCodeAt(end - 1) === 13) end--;
  if (end === 0) return REJECTS.empty;
  // One character class, no quantifier: linear, and about twice as fast as a charCodeAt loop in V8.
  NOT_PRINTABLE.lastIndex = 0;
  if (NOT_PRINTABLE.test(line)) {
    if (end === line.length || NOT_PRINTABLE.lastIndex !== end + 1) return REJECTS.binary;
  }

  readTime = null;
  readZone = null;
  let p = 0;

  // Syslog priority, and the RFC 5424 header that may follow it.
  let isSyslog = false;
  if (line.charCodeAt(0) === CH_LT) {
    const gt = line.indexOf('>', 1);
    if (gt === -1 || gt >= end) return REJECTS.truncated;
    if (gt === 1 || gt > 4 || portAt(line, 1, gt) < 0) return REJECTS.malformed;
    p = gt + 1;
    isSyslog = true;
    if (line.charCodeAt(p) === 49 /* 1 */ && line.charCodeAt(p + 1) === CH_SPACE) {
      p = readRfc5424(line, p + 2, end, ctx);
      if (p < 0) return rejectFor(p);
      return parseAfterHeader(line, p, end, ctx, true);
    }
  }

  p = readAnyTime(line, p, end, ctx);
  if (p < 0) return rejectFor(p);
  if (timeKind !== TIME_NONE) {
    if (p >= end) return REJECTS.truncated;
    if (line.charCodeAt(p) !== CH_SPACE) return REJECTS.bad_time;
    p++;
    if (timeKind === TIME_SYSLOG) {
      isSyslog = true;
    } else if (timeKind === TIME_ISO && !isSyslog) {
      // BIND's `print-time iso8601` or rsyslog's RFC 3339 header: the latter has `HOST TAG:` next.
      const sp = line.indexOf(' ', p);
      if (sp !== -1 && sp < end && line.charCodeAt(sp - 1) !== CH_COLON && !at(line, 'client ', p)) {
        isSyslog = true;
      }
    }
  }
  // (`<PRI>` without a timestamp is what a program sends to /dev/log: `<30>named[123]: …`.)
  if (isSyslog) {
    p = skipSyslogHostTag(line, p, end);
    if (p < 0) return rejectFor(p);
  }
  return parseAfterHeader(line, p, end, ctx, isSyslog);
}

/** From the message (after any syslog header): BIND's own time, category, severity, then the client. */
function parseAfterHeader(line: string, p: number, end: number, ctx: ParseContext, isSyslog: boolean): ParseResult {
  if (p >= end) return REJECTS.truncated;
  // A syslog channel with print-time: BIND's own timestamp (it has the year) wins over the header's.
  // A message that starts with a digit but no timestamp is some other message.
  if (isSyslog && isDigit(line.charCodeAt(p))) {
    const q = readAnyTime(line, p, end, ctx);
    if (q === E_TRUNCATED || q >= end) return REJECTS.truncated;
    if (q < 0 || line.charCodeAt(q) !== CH_SPACE) return REJECTS.not_query;
    p = q + 1;
  }
  // `CATEGORY: `, `SEVERITY: ` (`debug 3: `), module or tag prefixes, in BIND's order; up to four.
  if (at(line, 'queries: info: client ', p)) return parseClient(line, p + 22, end);
  for (let k = 0; !at(line, 'client ', p); k++) {
    if (k === 4) return REJECTS.not_query;
    const colon = line.indexOf(': ', p);
    if (colon === -1 || colon >= end) {
      // A prefix has no space: text without one was cut inside it; text with one is some other message.
      const sp = line.indexOf(' ', p);
      return sp === -1 || sp >= end ? REJECTS.truncated : REJECTS.not_query;
    }
    const sp = line.indexOf(' ', p);
    if (sp < colon && !(at(line, 'debug ', p) || at(line, 'level ', p))) return REJECTS.not_query;
    if (colon === p) return REJECTS.not_query;
    p = colon + 2;
  }
  return parseClient(line, p + 7, end);
}

/** From after `client `: the client object, address, signer, qname, view, then the query. */
function parseClient(line: string, p: number, end: number): ParseResult {
  if (line.charCodeAt(p) === CH_AT) {
    const sp = line.indexOf(' ', p);
    if (sp === -1 || sp >= end) return REJECTS.truncated;
    // 9.9 writes `client @0x…: ` in place of the address when it has none.
    if (line.charCodeAt(sp - 1) === CH_COLON) return REJECTS.bad_client;
    p = sp + 1;
  }
  // ADDR#PORT ends at the first space, or at `:` / `/key` for older shapes; split on the LAST `#`.
  const tokEnd = line.indexOf(' ', p);
  if (tokEnd === -1 || tokEnd >= end) return REJECTS.truncated;
  const hash = lastHash(line, p, tokEnd);
  if (hash === -1) return REJECTS.bad_client;
  let pe = hash + 1;
  while (pe < tokEnd && isDigit(line.charCodeAt(pe))) pe++;
  const port = portAt(line, hash + 1, pe);
  if (port < 0 || !isAddress(line, p, hash)) return REJECTS.bad_client;
  const clientIp = line.slice(p, hash);

  let signer: string | null = null;
  let view: string | null = null;
  p = pe;
  let needSep = true; // still expecting `: ` before the message
  if (at(line, '/key', p) && p + 4 === tokEnd) {
    const ks = tokEnd + 1;
    const ke = line.indexOf(' ', ks);
    if (ke === -1 || ke >= end) return REJECTS.truncated;
    if (line.charCodeAt(ke - 1) === CH_COLON) {
      // 9.3-9.8: `/key NAME: query: …`
      signer = line.slice(ks, ke - 1);
      needSep = false;
      p = ke + 1;
    } else {
      signer = line.slice(ks, ke);
      p = ke;
    }
    if (ks >= (needSep ? ke : ke - 1)) return REJECTS.malformed;
  }
  if (needSep) {
    if (p + 1 >= end) return REJECTS.truncated;
    const c = line.charCodeAt(p);
    if (c === CH_COLON && p + 1 === tokEnd) {
      // 9.3-9.8: `ADDR#PORT: …`
      p = tokEnd + 1;
    } else if (c === CH_SPACE && line.charCodeAt(p + 1) === CH_LPAREN) {
      // 9.9+: ` (QNAME): …`. Names escape spaces (`\032`), so the field ends at the next space.
      const sp = line.indexOf(' ', p + 2);
      if (sp === -1 || sp >= end) return REJECTS.truncated;
      if (line.charCodeAt(sp - 1) !== CH_COLON || line.charCodeAt(sp - 2) !== CH_RPAREN) return REJECTS.malformed;
      p = sp + 1;
    } else if (p === tokEnd || c === CH_COLON || c === CH_SPACE || c === CH_SLASH) {
      return REJECTS.malformed;
    } else {
      return REJECTS.bad_client;
    }
  }
  if (at(line, 'view ', p)) {
    const ve = line.indexOf(': ', p + 5);
    if (ve === -1 || ve >= end) return REJECTS.truncated;
    view = line.slice(p + 5, ve);
    p = ve + 2;
  }
  if (!at(line, 'query: ', p)) return cutShort(line, p, end, 'query: ', 'view ') ? REJECTS.truncated : REJECTS.not_query;
  return parseQuery(line, p + 7, end, clientIp, port, signer, view);
}

/** From after `query: `: QNAME CLASS TYPE FLAGS[ (DEST)][ [ECS …]]. */
function parseQuery(
  line: string,
  p: number,
  end: number,
  clientIp: string,
  clientPort: number,
  signer: string | null,
  view: string | null,
): ParseResult {
  const qs = p;
  const ne = line.indexOf(' ', qs);
  if (ne === -1 || ne >= end) return REJECTS.truncated;
  if (ne === qs) return REJECTS.malformed;
  const ce = line.indexOf(' ', ne + 1);
  if (ce === -1 || ce >= end) return REJECTS.truncated;
  if (!isMnemonic(line, ne + 1, ce)) return REJECTS.malformed;
  const te = line.indexOf(' ', ce + 1);
  // Up to and including the type, with no flags: cut short.
  if (te === -1 || te >= end) return REJECTS.truncated;
  if (!isMnemonic(line, ce + 1, te)) return REJECTS.malformed;

  // Flags.
  const fs = te + 1;
  if (fs >= end) return REJECTS.truncated;
  let fe = line.indexOf(' ', fs);
  if (fe === -1 || fe > end) fe = end;
  const f0 = line.charCodeAt(fs);
  if (f0 !== CH_PLUS && f0 !== CH_MINUS) return REJECTS.bad_flags;
  let edns: number | null = null;
  let signed = false;
  let tcp = false;
  let isDo = false;
  let cd = false;
  let cookie: 'valid' | 'present' | null = null;
  for (let i = fs + 1; i < fe; i++) {
    switch (line.charCodeAt(i)) {
      case 83: // S
        signed = true;
        break;
      case 69: // E or E(n)
        if (i + 1 < fe && line.charCodeAt(i + 1) === CH_LPAREN) {
          let j = i + 2;
          let v = 0;
          while (j < fe && isDigit(line.charCodeAt(j)) && j - i - 2 < 5) v = v * 10 + line.charCodeAt(j++) - CH_0;
          if (j >= fe) return fe === end ? REJECTS.truncated : REJECTS.bad_flags;
          if (j === i + 2 || line.charCodeAt(j) !== CH_RPAREN || v > 255) return REJECTS.bad_flags;
          edns = v;
          i = j;
        } else {
          edns = -1;
        }
        break;
      case CH_T:
        tcp = true;
        break;
      case 68: // D
        isDo = true;
        break;
      case 67: // C
        cd = true;
        break;
      case 86: // V
        cookie = 'valid';
        break;
      case 75: // K
        if (cookie === null) cookie = 'present';
        break;
      default:
        return REJECTS.bad_flags;
    }
  }

  // Destination (9.10+) and ECS (9.11+). Either may be missing in any shape (versions and builds
  // differ: a 9.11+ line is not required to have its destination); one that is there must be whole.
  let destIp: string | null = null;
  let destPort: number | null = null;
  let ecs: string | null = null;
  p = fe;
  if (p < end && at(line, ' (', p)) {
    const close = line.indexOf(')', p + 2);
    if (close === -1 || close >= end) return REJECTS.truncated;
    const dh = lastHash(line, p + 2, close);
    if (dh > p + 2) {
      destPort = portAt(line, dh + 1, close);
      if (destPort < 0 || !isAddress(line, p + 2, dh)) return REJECTS.malformed;
      destIp = line.slice(p + 2, dh);
    } else {
      if (!isAddress(line, p + 2, close)) return REJECTS.malformed;
      destIp = line.slice(p + 2, close);
    }
    p = close + 1;
  }
  if (p < end) {
    if (!at(line, ' [ECS ', p)) return cutShort(line, p, end, ' [ECS ', ' [ECS ') ? REJECTS.truncated : REJECTS.malformed;
    const rb = line.indexOf(']', p + 6);
    if (rb === -1 || rb >= end) return REJECTS.truncated;
    if (rb === p + 6 || rb + 1 !== end) return REJECTS.malformed;
    const slash = line.indexOf('/', p + 6);
    if (slash === -1 || slash > rb || slash === p + 6) return REJECTS.malformed;
    ecs = line.slice(p + 6, rb);
  }

  return {
    kind: 'query',
    time: readTime,
    zone: readZone,
    clientIp,
    clientPort,
    view,
    qname: line.slice(qs, ne),
    qclass: mnemonic(line, ne + 1, ce),
    qtype: mnemonic(line, ce + 1, te),
    flags: line.slice(fs, fe),
    rd: f0 === CH_PLUS,
    edns,
    tcp,
    do: isDo,
    cd,
    signed,
    cookie,
    destIp,
    destPort,
    ecs,
    signer,
  };
}
