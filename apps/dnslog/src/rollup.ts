/**
 * Rollups: counts kept beside the raw rows, written at ship time in the same transaction, so that
 * the reports people run most (timeline, query types, top names and clients) read thousands of
 * summary rows instead of millions of queries.
 *
 * - `dns_rollup_minute` (bucket minute, server, qtype) → queries: timeline, qtypes, server volume.
 * - `dns_rollup_names`  (bucket hour, server, qname)   → queries: top-names.
 * - `dns_rollup_clients`(bucket hour, server, client_ip) → queries: top-clients.
 *
 * Buckets are wall-clock text `YYYY-MM-DD HH:MM:00`, like qtime without the milliseconds. A report
 * range is split into the whole buckets (read from the rollup) and the partial ones at its edges
 * (read from the raw rows): the answer is the same as a scan of the raw rows, only cheaper.
 */
import type { QueryRow } from './row.js';

export type RollupUnit = 'minute' | 'hour';

export const ROLLUP_TABLES = {
  minute: 'dns_rollup_minute',
  names: 'dns_rollup_names',
  clients: 'dns_rollup_clients',
} as const;

/** `2026-11-25 09:41:00` for a qtime `2026-11-25 09:41:07.123`. */
export function minuteBucket(qtime: string): string {
  return `${qtime.slice(0, 16)}:00`;
}

/** `2026-11-25 09:00:00` for a qtime `2026-11-25 09:41:07.123`. */
export function hourBucket(qtime: string): string {
  return `${qtime.slice(0, 13)}:00:00`;
}

/** One file's rollup rows, counted while it streams; qnames are grouped case-insensitively, as SQL does. */
export class RollupAccumulator {
  private readonly minutes = new Map<string, number>();
  private readonly names = new Map<string, { name: string; n: number }>();
  private readonly clients = new Map<string, number>();

  add(row: QueryRow): void {
    const t = row.time;
    const minute = `${minuteBucket(t)}\t${row.qtype}`;
    this.minutes.set(minute, (this.minutes.get(minute) ?? 0) + 1);
    const hour = hourBucket(t);
    const nameKey = `${hour}\t${row.qname.toLowerCase()}`;
    const e = this.names.get(nameKey);
    if (e) e.n++;
    else this.names.set(nameKey, { name: row.qname, n: 1 });
    const client = `${hour}\t${row.clientIp}`;
    this.clients.set(client, (this.clients.get(client) ?? 0) + 1);
  }

  /** [bucket, qtype, queries] */
  minuteRows(): [string, string, number][] {
    return [...this.minutes].map(([k, n]) => {
      const tab = k.indexOf('\t');
      return [k.slice(0, tab), k.slice(tab + 1), n];
    });
  }

  /** [bucket, qname, queries] */
  nameRows(): [string, string, number][] {
    return [...this.names].map(([k, e]) => [k.slice(0, k.indexOf('\t')), e.name, e.n]);
  }

  /** [bucket, client_ip, queries] */
  clientRows(): [string, string, number][] {
    return [...this.clients].map(([k, n]) => {
      const tab = k.indexOf('\t');
      return [k.slice(0, tab), k.slice(tab + 1), n];
    });
  }
}

const UNIT_MS: Record<RollupUnit, number> = { minute: 60_000, hour: 3_600_000 };

/** Wall-clock text as a number of ms (treated as UTC: no zone arithmetic, only alignment). */
function wallMs(text: string): number {
  const ms = Date.parse(`${text.slice(0, 10)}T${text.slice(11, 23).padEnd(12, '.000').slice(0, 12)}Z`);
  if (Number.isNaN(ms)) throw new Error(`not a wall-clock time: ${text}`);
  return ms;
}

function wallText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}

export interface RangePlan {
  /** Whole buckets, read from the rollup: bucket >= from (when set) and bucket < to (when set). null: none. */
  rollup: { from?: string; to?: string } | null;
  /** Partial buckets at the edges, read from the raw rows: since <= qtime < until. */
  raw: { since?: string; until?: string }[];
}

/**
 * Splits [since, until) into whole `unit` buckets and the partial edges. Either bound may be
 * missing (open range); bounds are wall-clock text with or without milliseconds.
 */
export function planRange(since: string | undefined, until: string | undefined, unit: RollupUnit): RangePlan {
  const step = UNIT_MS[unit];
  const lo = since === undefined ? undefined : Math.ceil(wallMs(since) / step) * step;
  const hi = until === undefined ? undefined : Math.floor(wallMs(until) / step) * step;
  if (lo !== undefined && hi !== undefined && lo >= hi) return { rollup: null, raw: [{ since, until }] };
  const raw: RangePlan['raw'] = [];
  if (since !== undefined && lo !== undefined && wallMs(since) < lo) raw.push({ since, until: wallText(lo) });
  if (until !== undefined && hi !== undefined && hi < wallMs(until)) raw.push({ since: wallText(hi), until });
  const bucket = (ms: number) => wallText(ms).slice(0, 19);
  return {
    rollup: { ...(lo === undefined ? {} : { from: bucket(lo) }), ...(hi === undefined ? {} : { to: bucket(hi) }) },
    raw,
  };
}
