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
import { msText, wallMs } from '../time/zone.js';
import type { QueryRow } from './row.js';

export type RollupUnit = 'minute' | 'hour';

export const ROLLUP_TABLES = {
  minute: 'dns_rollup_minute',
  names: 'dns_rollup_names',
  clients: 'dns_rollup_clients',
} as const;

/** The dns_queries column a rollup counts by. */
export type RollupColumn = 'qtype' | 'qname' | 'client_ip';

/** One rollup table: what it counts, per what, and its key column's type in each store. */
export interface RollupSpec {
  table: string;
  unit: RollupUnit;
  column: RollupColumn;
  sqliteType: string;
  mysqlType: string;
}

/** The three rollups; every statement that touches them is made from this list. */
export const ROLLUPS: readonly RollupSpec[] = [
  {
    table: ROLLUP_TABLES.minute,
    unit: 'minute',
    column: 'qtype',
    sqliteType: 'TEXT NOT NULL',
    mysqlType: 'VARCHAR(16) CHARACTER SET ascii NOT NULL',
  },
  {
    table: ROLLUP_TABLES.names,
    unit: 'hour',
    column: 'qname',
    sqliteType: 'TEXT NOT NULL COLLATE NOCASE',
    mysqlType: 'VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL',
  },
  {
    table: ROLLUP_TABLES.clients,
    unit: 'hour',
    column: 'client_ip',
    sqliteType: 'TEXT NOT NULL',
    mysqlType: 'VARCHAR(64) CHARACTER SET ascii NOT NULL',
  },
];

/** `2026-11-25 09:41:00` for a qtime `2026-11-25 09:41:07.123`. */
export function minuteBucket(qtime: string): string {
  return `${qtime.slice(0, 16)}:00`;
}

/** `2026-11-25 09:00:00` for a qtime `2026-11-25 09:41:07.123`. */
export function hourBucket(qtime: string): string {
  return `${qtime.slice(0, 13)}:00:00`;
}

/** SQL for a rollup's bucket of a time column, the same text as minuteBucket/hourBucket make. */
export function rollupBucketSql(dialect: 'sqlite' | 'mysql', unit: RollupUnit, column = 'qtime'): string {
  if (dialect === 'mysql') return `DATE_FORMAT(${column}, '${unit === 'minute' ? '%Y-%m-%d %H:%i:00' : '%Y-%m-%d %H:00:00'}')`;
  return unit === 'minute' ? `substr(${column}, 1, 16) || ':00'` : `substr(${column}, 1, 13) || ':00:00'`;
}

interface Count {
  /** The key as first seen (names are grouped case-insensitively, the first spelling kept). */
  key: string;
  n: number;
}

/**
 * A copy of `s` that holds its own characters. The parser's fields are slices of a whole 64 KiB
 * chunk of the log, and V8 keeps the chunk alive as long as any slice of it lives: a kept key would
 * pin its chunk, and memory would grow with every hour of log a file covers.
 */
function own(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/**
 * Counts per bucket, then per key. A log is in time order, so consecutive rows nearly always fall
 * in the bucket of the row before: that bucket's map is kept at hand, and a row costs one lookup
 * by its key alone (no bucket+key string built per row).
 */
class BucketCounts {
  private readonly buckets = new Map<string, Map<string, Count>>();
  private lastBucket = '';
  private last: Map<string, Count> | undefined;
  /** Distinct (bucket, key) pairs held. */
  size = 0;

  add(bucket: string, folded: string, key: string): void {
    let keys = this.last;
    if (keys === undefined || bucket !== this.lastBucket) {
      keys = this.buckets.get(bucket);
      if (keys === undefined) {
        keys = new Map();
        this.buckets.set(own(bucket), keys);
      }
      this.lastBucket = bucket;
      this.last = keys;
    }
    const c = keys.get(folded);
    if (c) c.n++;
    else {
      const k = own(key);
      keys.set(folded === key ? k : own(folded), { key: k, n: 1 });
      this.size++;
    }
  }

  rows(): [string, string, number][] {
    const out: [string, string, number][] = [];
    for (const [bucket, keys] of this.buckets) for (const c of keys.values()) out.push([bucket, c.key, c.n]);
    return out;
  }
}

/** Whether two wall-clock texts share their first 16 characters (`YYYY-MM-DD HH:MM`). */
function sameMinute(a: string, b: string): boolean {
  if (a.length < 16 || b.length < 16) return false;
  for (let i = 15; i >= 0; i--) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

/**
 * Distinct keys a file's accumulator holds before its counts are flushed into the rollup tables
 * (inside the file's transaction, adding to what is there). About 200 bytes each live, and V8
 * lets the heap grow to a multiple of that between collections: measured with bench/flood-rss.mjs,
 * 200,000 kept a 2M-line flood into MariaDB at 303 MB peak RSS, 50,000 at 190 MB. An ordinary log
 * (a few thousand names an hour) is still flushed once, at its end.
 */
export const ROLLUP_FLUSH_KEYS = 50_000;

/**
 * Rollup rows counted while a file streams; qnames are grouped case-insensitively, as SQL does.
 * The counts are partial sums: the stores add them to the tables with upsert arithmetic
 * (`queries = queries + new`), so flushing and clearing several times gives the rows one flush would.
 */
export class RollupAccumulator {
  private counts: Record<RollupColumn, BucketCounts> = RollupAccumulator.empty();
  private lastTime = '';
  private minute = '';
  private hour = '';

  add(row: QueryRow): void {
    const t = row.time;
    // The buckets only change with the minute: most rows reuse the previous row's bucket texts.
    if (!sameMinute(t, this.lastTime)) {
      this.minute = minuteBucket(t);
      this.hour = hourBucket(t);
      this.lastTime = t;
    }
    this.counts.qtype.add(this.minute, row.qtype, row.qtype);
    this.counts.qname.add(this.hour, row.qname.toLowerCase(), row.qname);
    this.counts.client_ip.add(this.hour, row.clientIp, row.clientIp);
  }

  /** [bucket, key, queries] for the rollup counting by `column`. */
  rows(column: RollupColumn): [string, string, number][] {
    return this.counts[column].rows();
  }

  /** Distinct (bucket, key) pairs held, over the three rollups. */
  get size(): number {
    return this.counts.qtype.size + this.counts.qname.size + this.counts.client_ip.size;
  }

  /** Forgets the counts (after they were added to the tables). */
  clear(): void {
    this.counts = RollupAccumulator.empty();
  }

  private static empty(): Record<RollupColumn, BucketCounts> {
    return { qtype: new BucketCounts(), qname: new BucketCounts(), client_ip: new BucketCounts() };
  }
}

const UNIT_MS: Record<RollupUnit, number> = { minute: 60_000, hour: 3_600_000 };

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
  if (since !== undefined && lo !== undefined && wallMs(since) < lo) raw.push({ since, until: msText(lo) });
  if (until !== undefined && hi !== undefined && hi < wallMs(until)) raw.push({ since: msText(hi), until });
  const bucket = (ms: number) => msText(ms).slice(0, 19);
  return {
    rollup: { ...(lo === undefined ? {} : { from: bucket(lo) }), ...(hi === undefined ? {} : { to: bucket(hi) }) },
    raw,
  };
}
