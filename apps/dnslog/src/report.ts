/**
 * Reports: parameterised SQL for both stores (no SQL is ever built from user input — only from
 * fixed fragments chosen by the report), and their rendering as a table, JSON or CSV.
 */
import type { SqlParam } from './store.js';

export interface ReportFilter {
  since?: string;
  until?: string;
  server?: string;
}

export type TopDimension = 'qname' | 'client_ip' | 'qtype';

export interface SqlQuery {
  sql: string;
  params: SqlParam[];
}

export function whereClause(f: ReportFilter): SqlQuery {
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
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

const DIMENSION_COLUMN: Record<TopDimension, string> = { qname: 'qname', client_ip: 'client_ip', qtype: 'qtype' };

/** The most frequent values of one column, with their share of all queries in the range. */
export function topQuery(dim: TopDimension, f: ReportFilter, limit: number): SqlQuery {
  const col = DIMENSION_COLUMN[dim];
  const w = whereClause(f);
  return {
    sql: `SELECT ${col} AS value, COUNT(*) AS queries FROM dns_queries ${w.sql} GROUP BY ${col} ORDER BY queries DESC, value LIMIT ?`,
    params: [...w.params, limit],
  };
}

export type ReportFormat = 'table' | 'json' | 'csv';

export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders rows with the given columns; numbers right-aligned in tables. */
export function renderRows(rows: readonly Record<string, unknown>[], columns: readonly string[], format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (format === 'csv') {
    return [columns.join(','), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  }
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] ?? '').length)));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number' || typeof r[c] === 'bigint'));
  const fmt = (vals: readonly string[]) =>
    vals.map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [fmt(columns), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n') + '\n';
}
