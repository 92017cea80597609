/**
 * Time zones: dnslog stores UTC and speaks local time only at its edges — a log line's wall clock
 * is read in the zone of the server that wrote it, a report's times are printed in the reader's.
 * Zones come from the platform's ICU (`Intl.DateTimeFormat`, the IANA database Node ships with),
 * not from tables of our own. Times here are ms since the epoch; "wall" ms are a wall clock's
 * fields taken as if they were UTC (`Date.UTC(y, m, d, h, mi, s)`), which is how texts
 * `YYYY-MM-DD HH:MM:SS.mmm` compare and subtract.
 */
import { UserError } from '@toolbox/shared';

export interface TimeZone {
  /** As given, canonical where ICU knows it (`Europe/Berlin`, `UTC`, `+05:30`). */
  readonly name: string;
  /** The zone's offset from UTC at an instant, in ms (east positive: Berlin in winter is 3,600,000). */
  offsetAt(utcMs: number): number;
  /**
   * The instants a wall clock reading names, earliest first: one as a rule, two in a repeated hour
   * (the fall-back), and in a skipped hour (spring-forward) the one the reading names with the
   * offset before the change (02:30 on a spring-forward night in Berlin is 01:30 UTC, 03:30 CEST).
   */
  instantsOf(wallMs: number): number[];
}

const DAY_MS = 86_400_000;
const OFFSET = /^([+-])(\d{2})(?::?(\d{2}))?$/;

/** `Z`, `+01`, `+0100`, `+01:00`, `-05:30` → ms, or null when it is not an offset. */
export function offsetMs(text: string): number | null {
  if (text === 'Z' || text === 'z') return 0;
  const m = OFFSET.exec(text);
  if (!m) return null;
  const h = Number(m[2]);
  const mi = Number(m[3] ?? 0);
  if (h > 18 || mi > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (h * 3_600_000 + mi * 60_000);
}

function fixedZone(name: string, off: number): TimeZone {
  return { name, offsetAt: () => off, instantsOf: (wall) => [wall - off] };
}

/** `+05:30`-style text of an offset in ms. */
export function offsetText(off: number): string {
  const a = Math.abs(off) / 60_000;
  const p = (n: number) => String(Math.floor(n)).padStart(2, '0');
  return `${off < 0 ? '-' : '+'}${p(a / 60)}:${p(a % 60)}`;
}

/**
 * A zone by name: an IANA name ICU knows (`Europe/Berlin`), `UTC`, or a fixed offset (`+01:00`).
 * Anything else is one clear error (E_TZ).
 */
export function timeZone(name: string, option = '--tz'): TimeZone {
  const text = name.trim();
  if (/^(?:utc|z|gmt|etc\/utc|etc\/gmt|etc\/zulu|zulu|universal)$/i.test(text)) return fixedZone('UTC', 0);
  const fixed = offsetMs(text);
  if (fixed !== null) return fixedZone(offsetText(fixed), fixed);
  let dtf: Intl.DateTimeFormat;
  try {
    if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(text)) throw new RangeError('not a zone name');
    dtf = new Intl.DateTimeFormat('en-US', {
      timeZone: text,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new UserError(
      'E_TZ',
      `${option} '${name}': not a time zone (give an IANA name like Europe/Berlin, UTC, or an offset like +01:00)`,
    );
  }
  const canonical = dtf.resolvedOptions().timeZone;
  if (canonical === 'UTC' || canonical === 'Etc/UTC' || canonical === 'Etc/GMT') return fixedZone('UTC', 0);
  const cache = new Map<number, number>();
  const offsetAt = (utcMs: number): number => {
    // Offsets change on whole minutes: one ICU call per minute asked about.
    const minute = Math.floor(utcMs / 60_000);
    const hit = cache.get(minute);
    if (hit !== undefined) return hit;
    const f: Record<string, number> = {};
    for (const p of dtf.formatToParts(minute * 60_000)) if (p.type !== 'literal') f[p.type] = Number(p.value);
    const wall = Date.UTC(f.year ?? 1970, (f.month ?? 1) - 1, f.day ?? 1, f.hour ?? 0, f.minute ?? 0, f.second ?? 0);
    const off = wall - minute * 60_000;
    if (cache.size > 4096) cache.clear();
    cache.set(minute, off);
    return off;
  };
  return {
    name: canonical,
    offsetAt,
    instantsOf(wall) {
      // A zone changes its offset at most once within a day either side of any wall reading.
      const before = offsetAt(wall - DAY_MS);
      const after = offsetAt(wall + DAY_MS);
      const out: number[] = [];
      for (const off of before === after ? [before] : [before, after]) {
        const u = wall - off;
        if (offsetAt(u) === off) out.push(u);
      }
      if (out.length === 0) return [wall - before];
      return out.sort((a, b) => a - b);
    },
  };
}

/**
 * Zones per server from repeatable `[SERVER=]ZONE` options (`--tz`, `--assume-tz`): a server's own
 * entry, else the entry without a server, else `fallback` (undefined: none given). Every zone is
 * checked when the options are read, so a typo stops the run before anything is done.
 */
export function zonesByServer(entries: readonly string[] | undefined, option: string): (server: string) => TimeZone | undefined {
  const byServer = new Map<string, TimeZone>();
  let all: TimeZone | undefined;
  for (const e of entries ?? []) {
    const eq = e.indexOf('=');
    if (eq < 0) {
      if (all !== undefined) throw new UserError('E_USAGE', `${option}: give one zone for all servers, then SERVER=ZONE for the others`);
      all = timeZone(e, option);
    } else {
      const server = e.slice(0, eq);
      if (server === '') throw new UserError('E_USAGE', `${option} '${e}': expected ZONE or SERVER=ZONE`);
      byServer.set(server, timeZone(e.slice(eq + 1), option));
    }
  }
  return (server) => byServer.get(server) ?? all;
}

/** The zone this process runs in (`TZ`, else the host's /etc/localtime), by its IANA name. */
export function localZone(): TimeZone {
  return timeZone(Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC');
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DD HH:MM:SS.mmm` of a wall or UTC ms value (its UTC fields). */
export function msText(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** Now (or any instant) as the stored UTC text `YYYY-MM-DD HH:MM:SS.mmm`. */
export function utcText(d: Date = new Date()): string {
  return msText(d.getTime());
}

const TEXT = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?/;

/**
 * ms of a text `YYYY-MM-DD[ HH:MM[:SS[.mmm]]]` (its fields taken as UTC: no zone arithmetic), or
 * NaN. The one reader of stored and bucket times; wallMs and bucketTime are its strict forms.
 */
export function textMs(text: string): number {
  const m = TEXT.exec(text);
  if (!m) return Number.NaN;
  return Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    Number((m[7] ?? '0').padEnd(3, '0')),
  );
}

function strictMs(text: string, what: string): number {
  const ms = textMs(text);
  if (Number.isNaN(ms)) throw new Error(`not ${what}: ${JSON.stringify(text)}`);
  return ms;
}

/** textMs of a report bound or rollup edge; anything else throws, so a bad bound never becomes NaN. */
export function wallMs(text: string): number {
  return strictMs(text, 'a wall-clock time');
}

/** A timeline bucket (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM`) as milliseconds, the wall clock read as UTC. */
export function bucketTime(bucket: string): number {
  return strictMs(bucket, 'a timeline bucket');
}

/**
 * How far back a line's time may go before it is a `time_back` reject: the DST hour. A log whose
 * times jump back further (a clock stepped back, lines of another file appended) cannot be placed.
 */
export const TIME_BACK_LIMIT_MS = 3_600_000;
/** Lines a little out of order (threads logging the same moment) are not a second pass of an hour. */
const REORDER_SLACK_MS = 10_000;

/**
 * Whether a reading in a repeated hour is that hour's second pass: the line before it (`last`, null
 * at a file's start) was already later than the reading's first pass, by more than lines are ever
 * out of order — its local time went back at the change. Ship (LineClock) and the migration of
 * stored rows (migrate-utc.ts) place lines by this one rule.
 */
export function isSecondPass(last: number | null, firstPass: number): boolean {
  return last !== null && last > firstPass + REORDER_SLACK_MS;
}

/**
 * A file's clock: turns each line's wall-clock text (and its zone suffix, when the line has one)
 * into UTC text, in file order. A reading in a repeated hour is the first pass unless the line
 * before it was already later than that (its local time went back at the change: the second pass).
 * Returns null for a line more than TIME_BACK_LIMIT_MS before the latest line so far.
 */
export class LineClock {
  private latest = Number.NEGATIVE_INFINITY;
  private last: number | null = null;
  private minuteKey = '';
  private minuteInstants: number[] = [];
  private minuteTexts: string[] = [];

  constructor(readonly zone: TimeZone) {}

  /** `wall` is `YYYY-MM-DD HH:MM:SS.mmm`; `suffix` the zone written after it (`Z`, `+01:00`) or null. */
  toUtc(wall: string, suffix: string | null): string | null {
    const key = suffix === null ? wall.slice(0, 16) : `${wall.slice(0, 16)}${suffix}`;
    if (key !== this.minuteKey) {
      const minuteWall = textMs(wall.slice(0, 16));
      const off = suffix === null ? null : offsetMs(suffix);
      this.minuteInstants = off === null ? this.zone.instantsOf(minuteWall) : [minuteWall - off];
      this.minuteTexts = this.minuteInstants.map((u) => msText(u).slice(0, 16));
      this.minuteKey = key;
    }
    const within = Number(wall.slice(17, 19)) * 1000 + Number(wall.slice(20, 23));
    let pick = 0;
    if (this.minuteInstants.length > 1 && isSecondPass(this.last, (this.minuteInstants[0] ?? 0) + within)) pick = 1;
    const at = (this.minuteInstants[pick] ?? 0) + within;
    if (at < this.latest - TIME_BACK_LIMIT_MS) return null;
    this.last = at;
    if (at > this.latest) this.latest = at;
    const base = this.minuteInstants[pick] ?? 0;
    // Whole-minute offsets (every zone in use today) keep the seconds as written.
    return base % 60_000 === 0 ? `${this.minuteTexts[pick] ?? ''}${wall.slice(16)}` : msText(at);
  }
}

/** A UTC text shown in a zone: `YYYY-MM-DD HH:MM:SS.mmm` of the wall clock there (cut to `width`). */
export function wallOf(zone: TimeZone, utc: string, width = 23): string {
  const ms = textMs(utc);
  if (Number.isNaN(ms)) return utc;
  return msText(ms + zone.offsetAt(ms)).slice(0, width);
}

/** ISO 8601 with the zone's offset: `2026-11-25T10:00:00.000+01:00`. */
export function isoIn(zone: TimeZone, utc: string): string {
  const ms = textMs(utc);
  if (Number.isNaN(ms)) return utc;
  const off = zone.offsetAt(ms);
  return `${msText(ms + off).replace(' ', 'T')}${off === 0 && zone.name === 'UTC' ? 'Z' : offsetText(off)}`;
}

/** Whether a wall reading in this zone names two instants (the repeated hour at a fall-back). */
export function isRepeated(zone: TimeZone, utc: string): boolean {
  const ms = textMs(utc);
  if (Number.isNaN(ms)) return false;
  return zone.instantsOf(ms + zone.offsetAt(ms)).length > 1;
}
