/** `dnslog report …`: runs one report against the store and prints it. */
import { writeFileSync } from 'node:fs';
import { ExitCode, parseDuration, UserError, writeJson, type CliIo } from '@toolbox/shared';
import { parseClientFilter } from '../store/ip-range.js';
import { requireUtcTimes } from '../store/migrate-utc.js';
import { openStore } from '../store/open-store.js';
import {
  groupByDomain,
  hourlyRollupsPay,
  renderRows,
  SERVER_LEDGER_SQL,
  searchQuery,
  serverVolumeQuery,
  timelineQuery,
  topQuery,
  type Bucket,
  type ReportFilter,
  type ReportFormat,
  type SqlQuery,
  type TopDimension,
} from '../report/report.js';
import { cellText } from '../store/row.js';
import type { Store } from '../store/store.js';
import { htmlPage, pivot, terminalChart, type TimelinePoint } from '../report/timeline-chart.js';
import { parseTimeBound } from '../time/time-range.js';
import { isoIn, isRepeated, localZone, offsetText, textMs, timeZone, utcText, wallOf, type TimeZone } from '../time/zone.js';

export interface ReportOptions {
  db: string;
  since?: string;
  until?: string;
  server?: string;
  client?: string;
  limit: number;
  format: ReportFormat;
  json: boolean;
  explain: boolean;
  /** Count from the rows even where rollups could answer (to check them, or compare speed). */
  raw?: boolean;
  /** The reader's zone for --since/--until and printed times (default: this process's). */
  tz?: string;
  /** A sharded store with a shard down: answer from the others, and say so (exit 1). */
  partial?: boolean;
}

/** The reader's zone: `--tz`, else the one this process runs in. */
export function readerZone(opts: Pick<ReportOptions, 'tz'>): TimeZone {
  return opts.tz === undefined ? localZone() : timeZone(opts.tz);
}

export function reportFilter(
  opts: Pick<ReportOptions, 'since' | 'until' | 'server' | 'client' | 'tz'>,
  now: Date,
  zone = readerZone(opts),
): ReportFilter {
  return {
    since: opts.since === undefined ? undefined : parseTimeBound('--since', opts.since, now, zone),
    until: opts.until === undefined ? undefined : parseTimeBound('--until', opts.until, now, zone),
    server: opts.server,
    client: opts.client === undefined ? undefined : parseClientFilter(opts.client),
  };
}

function format(opts: ReportOptions): ReportFormat {
  return opts.json ? 'json' : opts.format;
}

/**
 * A stored UTC time as the reader sees it: ISO 8601 with the offset in JSON and CSV, the zone's wall
 * clock in a table (which names the zone under it); a wall reading the fall-back repeats carries
 * its offset there too, so that the hour's two passes stay apart.
 */
export function shownTime(zone: TimeZone, utc: string, fmt: ReportFormat, width = 23): string {
  if (fmt !== 'table') return isoIn(zone, utc).replace(/:00\.000(?=[Z+-])/, width <= 16 ? '' : ':00.000');
  const wall = wallOf(zone, utc, width);
  return isRepeated(zone, utc) ? `${wall} ${offsetText(zone.offsetAt(textMs(utc)))}` : wall;
}

/** The line under a table that says which zone its times are in. */
function zoneLine(zone: TimeZone): string {
  return `(times in ${zone.name}${zone.name === 'UTC' ? '' : `, UTC${offsetText(zone.offsetAt(Date.now()))} now`})\n`;
}

/** A database error in a report is about the input (a regex MariaDB rejects…): one line, exit 2. */
async function select(store: Store, q: SqlQuery): Promise<Record<string, unknown>[]> {
  try {
    return await store.select(q.sql, q.params);
  } catch (err) {
    const e = err as { sqlMessage?: string; code?: string };
    if (typeof e.sqlMessage === 'string' || (err instanceof Error && err.constructor.name === 'SqliteError')) {
      throw new UserError('E_QUERY', `${store.description}: the report query failed: ${e.sqlMessage ?? (err as Error).message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** `--explain`: the database's plan instead of the rows (MySQL: partitions read and index used). */
async function explain(store: Store, q: SqlQuery, io: CliIo, fmt: ReportFormat): Promise<void> {
  let rows: Record<string, unknown>[];
  if (store.dialect === 'mysql') {
    // MariaDB needs PARTITIONS to show them; MySQL 8 always shows them and rejects the word.
    rows = await store.select(`EXPLAIN PARTITIONS ${q.sql}`, q.params).catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'ER_PARSE_ERROR') throw err;
      return select(store, { sql: `EXPLAIN ${q.sql}`, params: q.params });
    });
  } else {
    rows = await select(store, { sql: `EXPLAIN QUERY PLAN ${q.sql}`, params: q.params });
  }
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (fmt === 'json') writeJson(io.stdout, rows);
  else io.stdout.write(renderRows(rows, columns, fmt));
}

/** Whether the database keeps rollups (schema version 2 on): reports read them when they can. */
async function hasRollups(store: Store): Promise<boolean> {
  return (await store.schemaVersion()) >= 2;
}

async function withStore<T>(opts: ReportOptions, io: CliIo, fn: (store: Store, rollups: boolean) => Promise<T>): Promise<T> {
  const store = await openStore(opts.db, io.env, { mustExist: true, partial: opts.partial });
  try {
    await requireUtcTimes(store);
    const result = await fn(store, !opts.raw && (await hasRollups(store)));
    if (store.missing !== undefined && store.missing.length > 0) {
      io.stderr.write(
        `dnslog: partial answer (--partial): ${store.missing.map((m) => `shard ${m.shard} ${m.url}`).join(', ')} did not answer; ` +
          `the figures leave out the files stored there\n`,
      );
      io.setExitCode(ExitCode.Findings);
    }
    return result;
  } finally {
    await store.close();
  }
}

export interface TopOptions extends ReportOptions {
  by?: 'name' | 'domain';
}

export async function runTopReport(dim: TopDimension, opts: TopOptions, io: CliIo, now = new Date()): Promise<void> {
  const filter = reportFilter(opts, now);
  const byDomain = opts.by === 'domain';
  if (byDomain && dim !== 'qname') throw new UserError('E_USAGE', '--by domain applies to top-names only');
  await withStore(opts, io, async (store, rollups) => {
    // Names and clients are rolled up per hour: worth it beyond a few hours, not for the last one.
    const useRollups = rollups && (dim === 'qtype' || hourlyRollupsPay(filter, utcText(now)));
    const q = topQuery(dim, filter, byDomain ? null : opts.limit, store.dialect, useRollups);
    if (opts.explain) return explain(store, q, io, format(opts));
    const raw = (await select(store, q)).map((r) => ({ value: String(r.value), queries: Number(r.queries) }));
    if (byDomain) {
      const rows = groupByDomain(raw, opts.limit);
      if (format(opts) === 'json') writeJson(io.stdout, rows);
      else io.stdout.write(renderRows(rows, ['domain', 'queries', 'names'], format(opts)));
      return;
    }
    const rows = raw.map((r) => ({ [dim]: r.value, queries: r.queries }));
    if (format(opts) === 'json') writeJson(io.stdout, rows);
    else io.stdout.write(renderRows(rows, [dim, 'queries'], format(opts)));
  });
}

export interface TimelineOptions extends ReportOptions {
  per: Bucket;
  svg?: string;
  html?: string;
}

export async function runTimeline(opts: TimelineOptions, io: CliIo, now = new Date()): Promise<void> {
  const zone = readerZone(opts);
  const filter = reportFilter(opts, now, zone);
  const fmt = format(opts);
  // Days are the reader's: counted per UTC hour, then summed per local date.
  const localDays = opts.per === 'day' && zone.name !== 'UTC';
  await withStore(opts, io, async (store, rollups) => {
    const q = timelineQuery(filter, localDays ? 'hour' : opts.per, store.dialect, rollups);
    if (opts.explain) return explain(store, q, io, fmt);
    const byKey = new Map<string, TimelinePoint>();
    for (const r of await select(store, q)) {
      const utc = String(r.bucket);
      const bucket = opts.per === 'day' ? wallOf(zone, utc.length === 10 ? `${utc} 00:00` : utc, 10) : shownTime(zone, utc, fmt, 16);
      const key = `${bucket}\0${String(r.server)}`;
      const p = byKey.get(key);
      if (p) p.queries += Number(r.queries);
      else byKey.set(key, { bucket, server: String(r.server), queries: Number(r.queries) });
    }
    const points = [...byKey.values()];
    const p = pivot(points);
    if (opts.svg !== undefined || opts.html !== undefined) {
      const since = filter.since === undefined ? undefined : wallOf(zone, filter.since);
      const until = filter.until === undefined ? undefined : wallOf(zone, filter.until);
      const range = `${since?.slice(0, 16) ?? 'start'} – ${until?.slice(0, 16) ?? 'now'} ${zone.name}`;
      const title = `DNS queries per ${opts.per}, per server (${range})`;
      const { svgChart } = await import('../report/timeline-svg.js');
      const chartPivot = fmt === 'table' ? p : pivot(points.map((x) => ({ ...x, bucket: x.bucket.replace('T', ' ') })));
      const svg = svgChart(chartPivot, { per: opts.per, since, until });
      if (opts.svg !== undefined) writeFileSync(opts.svg, svg);
      if (opts.html !== undefined) writeFileSync(opts.html, htmlPage(title, svg));
    }
    if (fmt === 'json') writeJson(io.stdout, points);
    else if (fmt === 'csv')
      io.stdout.write(renderRows(points as unknown as Record<string, unknown>[], ['bucket', 'server', 'queries'], 'csv'));
    else io.stdout.write(points.length === 0 ? 'no queries in the range\n' : `${terminalChart(p)}${zoneLine(zone)}`);
  });
}

export interface SearchOptions extends ReportOptions {
  like?: string;
  suffix?: string;
  regex?: string;
}

export async function runSearch(opts: SearchOptions, io: CliIo, now = new Date()): Promise<void> {
  if (opts.like === undefined && opts.suffix === undefined && opts.regex === undefined) {
    throw new UserError('E_USAGE', 'report search: give --like PATTERN, --suffix DOMAIN or --regex RE');
  }
  if (opts.regex !== undefined) {
    try {
      new RegExp(opts.regex);
    } catch (err) {
      throw new UserError('E_REGEX', `--regex '${opts.regex}': ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
    }
  }
  if (opts.suffix !== undefined && !/^[^\s]+$/.test(opts.suffix))
    throw new UserError('E_USAGE', `--suffix '${opts.suffix}': give a domain like example.com`);
  const zone = readerZone(opts);
  const filter = reportFilter(opts, now, zone);
  await withStore(opts, io, async (store) => {
    const q = searchQuery(filter, { like: opts.like, suffix: opts.suffix, regex: opts.regex }, opts.limit, store.dialect);
    if (opts.explain) return explain(store, q, io, format(opts));
    const fmt = format(opts);
    const rows = (await select(store, q)).map((r) => ({ ...r, qtime: shownTime(zone, String(r.qtime), fmt) }));
    if (fmt === 'json') writeJson(io.stdout, rows);
    else
      io.stdout.write(
        renderRows(rows, ['qtime', 'server', 'client_ip', 'qname', 'qclass', 'qtype', 'flags'], fmt) +
          (fmt === 'table' ? zoneLine(zone) : ''),
      );
  });
}

export interface ServersOptions extends ReportOptions {
  stale: string;
}

export interface ServerRow {
  server: string;
  queries: number;
  last_seen: string | null;
  last_shipped: string | null;
  files: number;
  status: 'ok' | 'STALE';
}

/** Every server the ledger knows, its volume in the range, and whether it stopped shipping. Exit 1 when one is stale. */
export async function runServers(opts: ServersOptions, io: CliIo, now = new Date()): Promise<ServerRow[]> {
  const staleMs = parseDuration(opts.stale);
  if (staleMs === null) throw new UserError('E_USAGE', `--stale '${opts.stale}': expected a duration like 6h or 1d`);
  const zone = readerZone(opts);
  const filter = reportFilter(opts, now, zone);
  const staleBefore = utcText(new Date(now.getTime() - staleMs));
  const fmt = format(opts);
  return withStore(opts, io, async (store, rollups) => {
    const q = serverVolumeQuery(filter, store.dialect, rollups);
    if (opts.explain) {
      await explain(store, q, io, format(opts));
      return [];
    }
    const volume = new Map((await select(store, q)).map((r) => [String(r.server), Number(r.queries)]));
    const ledger = await select(store, { sql: SERVER_LEDGER_SQL, params: [] });
    const rows: ServerRow[] = ledger
      .map((r) => {
        const lastSeen = r.last_seen == null ? null : cellText(r.last_seen).slice(0, 19);
        return {
          server: String(r.server),
          queries: volume.get(String(r.server)) ?? 0,
          last_seen: lastSeen === null ? null : shownTime(zone, lastSeen, fmt, 19),
          last_shipped: r.last_shipped == null ? null : shownTime(zone, cellText(r.last_shipped).slice(0, 19), fmt, 19),
          files: Number(r.files),
          status: lastSeen === null || lastSeen < staleBefore.slice(0, 19) ? ('STALE' as const) : ('ok' as const),
        };
      })
      .filter((r) => filter.server === undefined || r.server === filter.server)
      .sort((a, b) => (a.server < b.server ? -1 : 1));
    if (fmt === 'json') writeJson(io.stdout, rows);
    else {
      io.stdout.write(
        renderRows(
          rows as unknown as Record<string, unknown>[],
          ['server', 'queries', 'last_seen', 'last_shipped', 'files', 'status'],
          fmt,
        ),
      );
      if (fmt === 'table') io.stdout.write(zoneLine(zone));
    }
    const stale = rows.filter((r) => r.status === 'STALE');
    if (stale.length > 0) {
      io.stderr.write(
        `dnslog: ${stale.length} server(s) with no query newer than ${wallOf(zone, staleBefore, 19)} ${zone.name} (--stale ${opts.stale}): ${stale.map((r) => r.server).join(', ')}\n`,
      );
      io.setExitCode(ExitCode.Findings);
    }
    return rows;
  });
}
