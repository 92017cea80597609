/** `dnslog report …`: runs one report against the store and prints it. */
import { writeJson, type CliIo } from '@toolbox/shared';
import { openStore } from './open-store.js';
import { renderRows, topQuery, type ReportFilter, type ReportFormat, type TopDimension } from './report.js';
import { parseTimeBound } from './time-range.js';

export interface ReportOptions {
  db: string;
  since?: string;
  until?: string;
  server?: string;
  limit: number;
  format: ReportFormat;
  json: boolean;
}

export function reportFilter(opts: Pick<ReportOptions, 'since' | 'until' | 'server'>, now: Date): ReportFilter {
  return {
    since: opts.since === undefined ? undefined : parseTimeBound('--since', opts.since, now),
    until: opts.until === undefined ? undefined : parseTimeBound('--until', opts.until, now),
    server: opts.server,
  };
}

export async function runTopReport(dim: TopDimension, opts: ReportOptions, io: CliIo, now = new Date()): Promise<void> {
  const filter = reportFilter(opts, now);
  const store = openStore(opts.db, io.env);
  try {
    const q = topQuery(dim, filter, opts.limit);
    const rows = (await store.select(q.sql, q.params)).map((r) => ({ [dim]: r.value, queries: Number(r.queries) }));
    if (opts.json || opts.format === 'json') writeJson(io.stdout, rows);
    else io.stdout.write(renderRows(rows, [dim, 'queries'], opts.format));
  } finally {
    await store.close();
  }
}
