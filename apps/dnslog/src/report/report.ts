/**
 * Reports: parameterised SQL for both stores (no SQL is ever built from user input — only from
 * fixed fragments chosen by the report and the dialect), and their rendering as a table, JSON or CSV.
 * Every time bound is a plain `qtime` comparison, so MySQL prunes partitions outside the range.
 */
import { printable, registrableDomain } from '@toolbox/shared';
import type { ClientFilter } from '../store/ip-range.js';
import { ROLLUP_TABLES, ROLLUPS, planRange, type RollupSpec, type RollupUnit } from '../store/rollup.js';
import { wallMs } from '../time/zone.js';
import { cellText, reverseName } from '../store/row.js';
import type { SqlParam } from '../store/store.js';

export type Dialect = 'sqlite' | 'mysql';

export interface ReportFilter {
  since?: string;
  until?: string;
  server?: string;
  client?: ClientFilter;
}

export type TopDimension = 'qname' | 'client_ip' | 'qtype';

export interface SqlQuery {
  sql: string;
  params: SqlParam[];
}

const IP_HEX: Record<Dialect, string> = { mysql: 'HEX(INET6_ATON(client_ip))', sqlite: 'dnslog_ip_hex(client_ip)' };

export function whereClause(f: ReportFilter, dialect: Dialect = 'sqlite', extra: SqlQuery[] = []): SqlQuery {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  if (f.since !== undefined) {
    parts.push('qtime >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push('qtime < ?');
    params.push(f.until);
  }
  if (f.server !== undefined) {
    parts.push('server = ?');
    params.push(f.server);
  }
  if (f.client?.kind === 'ip') {
    parts.push(`${IP_HEX[dialect]} = ?`);
    params.push(f.client.hex);
  } else if (f.client?.kind === 'range') {
    parts.push(`LENGTH(${IP_HEX[dialect]}) = ? AND ${IP_HEX[dialect]} BETWEEN ? AND ?`);
    params.push(f.client.hexLength, f.client.lo, f.client.hi);
  }
  for (const e of extra) {
    parts.push(e.sql);
    params.push(...e.params);
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

const DIMENSION_COLUMN: Record<TopDimension, string> = { qname: 'qname', client_ip: 'client_ip', qtype: 'qtype' };

/** The rollup that answers a count by this dimension. */
function rollupFor(dim: TopDimension): RollupSpec {
  const r = ROLLUPS.find((x) => x.column === dim);
  if (!r) throw new Error(`no rollup counts by ${dim}`);
  return r;
}

/**
 * Whether hourly rollups are worth reading for a range: a range of a couple of hours is mostly
 * partial hours, which come from the rows anyway, and the rollup's per-name rows add to the work.
 * `now` (wall-clock text) closes an open range.
 */
export function hourlyRollupsPay(f: ReportFilter, now: string): boolean {
  if (f.since === undefined) return true;
  return wallMs(f.until ?? now) - wallMs(f.since) > 3 * 3_600_000;
}

/** Rollups can answer a report unless it filters on something they do not keep (the client). */
export function rollupsApply(f: ReportFilter, rollups: boolean): boolean {
  return rollups && f.client === undefined;
}

/**
 * The parts of a rolled-up count: `SELECT <rollupSelect> FROM <table> WHERE bucket in range GROUP BY
 * <groupBy>` for the whole buckets, and `SELECT <rawSelect> FROM dns_queries WHERE qtime in an edge
 * GROUP BY <groupBy>` for each partial bucket, to be summed by the caller's outer query.
 */
function rollupParts(
  f: ReportFilter,
  dialect: Dialect,
  unit: RollupUnit,
  table: string,
  rollupSelect: string,
  rawSelect: string,
  groupBy: string,
): SqlQuery[] {
  const plan = planRange(f.since, f.until, unit);
  const parts: SqlQuery[] = [];
  if (plan.rollup) {
    const conds: string[] = [];
    const params: SqlParam[] = [];
    if (plan.rollup.from !== undefined) {
      conds.push('bucket >= ?');
      params.push(plan.rollup.from);
    }
    if (plan.rollup.to !== undefined) {
      conds.push('bucket < ?');
      params.push(plan.rollup.to);
    }
    if (f.server !== undefined) {
      conds.push('server = ?');
      params.push(f.server);
    }
    const where = conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
    parts.push({ sql: `SELECT ${rollupSelect} FROM ${table}${where} GROUP BY ${groupBy}`, params });
  }
  for (const edge of plan.raw) {
    const w = whereClause({ ...f, since: edge.since, until: edge.until }, dialect);
    parts.push({ sql: `SELECT ${rawSelect} FROM dns_queries ${w.sql} GROUP BY ${groupBy}`, params: w.params });
  }
  return parts;
}

function union(parts: readonly SqlQuery[]): SqlQuery {
  return { sql: parts.map((p) => p.sql).join(' UNION ALL '), params: parts.flatMap((p) => p.params) };
}

/**
 * The most frequent values of one column. Without a limit (null), every value (for regrouping).
 * With `rollups`, whole hours (minutes for qtype) are read from the rollups and only the partial
 * ones at the edges of the range from the rows.
 */
export function topQuery(dim: TopDimension, f: ReportFilter, limit: number | null, dialect: Dialect = 'sqlite', rollups = false): SqlQuery {
  const col = DIMENSION_COLUMN[dim];
  const tail = `ORDER BY queries DESC, value${limit === null ? '' : ' LIMIT ?'}`;
  const tailParams = limit === null ? [] : [limit];
  if (rollupsApply(f, rollups)) {
    const r = rollupFor(dim);
    const u = union(rollupParts(f, dialect, r.unit, r.table, `${col} AS value, SUM(queries) AS n`, `${col} AS value, COUNT(*) AS n`, col));
    const collate = dim === 'qname' && dialect === 'sqlite' ? ' COLLATE NOCASE' : '';
    return {
      sql: `SELECT value, SUM(n) AS queries FROM (${u.sql}) x GROUP BY value${collate} ${tail}`,
      params: [...u.params, ...tailParams],
    };
  }
  const w = whereClause(f, dialect);
  return {
    sql: `SELECT ${col} AS value, COUNT(*) AS queries FROM dns_queries ${w.sql} GROUP BY ${col} ${tail}`,
    params: [...w.params, ...tailParams],
  };
}

export function groupByDomain(
  rows: readonly { value: string; queries: number }[],
  limit: number,
): { domain: string; queries: number; names: number }[] {
  const by = new Map<string, { queries: number; names: number }>();
  for (const r of rows) {
    const d = registrableDomain(r.value);
    const e = by.get(d) ?? { queries: 0, names: 0 };
    e.queries += r.queries;
    e.names += 1;
    by.set(d, e);
  }
  return [...by]
    .map(([domain, e]) => ({ domain, ...e }))
    .sort((a, b) => b.queries - a.queries || (a.domain < b.domain ? -1 : 1))
    .slice(0, limit);
}

export type Bucket = 'minute' | 'hour' | 'day';

/** The bucket label of a time column (`qtime`, or a rollup's `bucket`). */
function bucketSql(dialect: Dialect, bucket: Bucket, column: string): string {
  if (dialect === 'mysql') {
    const fmt = { minute: '%Y-%m-%d %H:%i', hour: '%Y-%m-%d %H:00', day: '%Y-%m-%d' }[bucket];
    return `DATE_FORMAT(${column}, '${fmt}')`;
  }
  return { minute: `substr(${column}, 1, 16)`, hour: `substr(${column}, 1, 13) || ':00'`, day: `substr(${column}, 1, 10)` }[bucket];
}

export function timelineQuery(f: ReportFilter, bucket: Bucket, dialect: Dialect, rollups = false): SqlQuery {
  if (rollupsApply(f, rollups)) {
    const u = union(
      rollupParts(
        f,
        dialect,
        'minute',
        ROLLUP_TABLES.minute,
        `${bucketSql(dialect, bucket, 'bucket')} AS b, server, SUM(queries) AS n`,
        `${bucketSql(dialect, bucket, 'qtime')} AS b, server, COUNT(*) AS n`,
        'b, server',
      ),
    );
    return {
      sql: `SELECT b AS bucket, server, SUM(n) AS queries FROM (${u.sql}) x GROUP BY b, server ORDER BY b, server`,
      params: u.params,
    };
  }
  const w = whereClause(f, dialect);
  const b = bucketSql(dialect, bucket, 'qtime');
  return {
    sql: `SELECT ${b} AS bucket, server, COUNT(*) AS queries FROM dns_queries ${w.sql} GROUP BY bucket, server ORDER BY bucket, server`,
    params: w.params,
  };
}

export interface SearchSpec {
  like?: string;
  suffix?: string;
  regex?: string;
}

/**
 * `--suffix example.com`: the name itself or anything under it, as a range on the reversed name
 * (`moc.elpmaxe.` ≤ qname_rev < `moc.elpmaxe/`), which an index on qname_rev answers directly.
 */
export function suffixCondition(suffix: string): SqlQuery {
  const rev = reverseName(suffix.replace(/^\*?\.+/, '').replace(/\.$/, ''));
  return { sql: '(qname_rev = ? OR (qname_rev >= ? AND qname_rev < ?))', params: [rev, `${rev}.`, `${rev}/`] };
}

export function searchQuery(f: ReportFilter, s: SearchSpec, limit: number, dialect: Dialect): SqlQuery {
  const extra: SqlQuery[] = [];
  if (s.suffix !== undefined) extra.push(suffixCondition(s.suffix));
  if (s.like !== undefined) extra.push({ sql: 'qname LIKE ?', params: [s.like] });
  if (s.regex !== undefined) extra.push({ sql: 'qname REGEXP ?', params: [s.regex] });
  const w = whereClause(f, dialect, extra);
  // Left alone, the optimizer walks the primary key backwards for ORDER BY … LIMIT and reads every
  // row; the reversed-name index reads only the names under the suffix.
  const hint = s.suffix === undefined ? '' : dialect === 'mysql' ? ' FORCE INDEX (qname_rev)' : ' INDEXED BY dns_queries_qname_rev';
  return {
    sql: `SELECT qtime, server, client_ip, qname, qclass, qtype, flags FROM dns_queries${hint} ${w.sql} ORDER BY qtime DESC LIMIT ?`,
    params: [...w.params, limit],
  };
}

/** Per-server volume in the range. */
export function serverVolumeQuery(f: ReportFilter, dialect: Dialect, rollups = false): SqlQuery {
  if (rollupsApply(f, rollups)) {
    const u = union(
      rollupParts(f, dialect, 'minute', ROLLUP_TABLES.minute, 'server, SUM(queries) AS n', 'server, COUNT(*) AS n', 'server'),
    );
    return { sql: `SELECT server, SUM(n) AS queries FROM (${u.sql}) x GROUP BY server`, params: u.params };
  }
  const w = whereClause(f, dialect);
  return {
    sql: `SELECT server, COUNT(*) AS queries, MAX(qtime) AS last_query FROM dns_queries ${w.sql} GROUP BY server`,
    params: w.params,
  };
}

/** Every server the ledger knows, with its newest shipped query and its last shipment (cheap: no scan of dns_queries). */
export const SERVER_LEDGER_SQL =
  'SELECT server, MAX(last_time) AS last_seen, MAX(shipped_at) AS last_shipped, COUNT(*) AS files FROM dnslog_files GROUP BY server';

export type ReportFormat = 'table' | 'json' | 'csv';

export function csvCell(v: unknown): string {
  let s = cellText(v);
  // A spreadsheet runs a cell that starts with = + - @ (or a tab or CR before one) as a formula,
  // and query names are chosen by whoever sends the query: such text gets a leading apostrophe.
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders rows with the given columns; numbers right-aligned in tables. */
export function renderRows(rows: readonly Record<string, unknown>[], columns: readonly string[], format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(rows)}\n`;
  if (format === 'csv') {
    return [columns.join(','), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  }
  // Printed on a terminal: control characters in names shown escaped, never sent through.
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '' : printable(cellText(r[c])))));
  // A loop, not Math.max(...cells): spreading a million rows overflows the stack.
  const widths = columns.map((c) => c.length);
  for (const row of cells) {
    for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, (row[i] ?? '').length);
  }
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number' || typeof r[c] === 'bigint'));
  const fmt = (vals: readonly string[]) =>
    vals
      .map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(columns), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n') + '\n';
}
