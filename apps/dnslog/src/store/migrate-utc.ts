/**
 * Schema version 5 stores UTC; a database made before it holds each name server's wall clock. `db
 * init` moves those times to UTC, per server, in the zone the operator names (`--assume-tz
 * [SERVER=]ZONE`, default the zone `db init` runs in): a run of wall-clock time with one offset is
 * shifted by one UPDATE; the hour a fall-back repeats is placed line by line, in file order, as
 * ship places it (zone.ts LineClock). Rollups are then counted again from the rows. All of it is
 * one transaction with the new schema version: a migration stopped halfway is simply done again.
 */
import { UserError } from '@toolbox/shared';
import type { MigratedServer, SqlParam, Store } from './store.js';
import { isSecondPass, msText, textMs, type TimeZone } from '../time/zone.js';

/** A piece of the wall-clock line with one shift to UTC (ms), or a repeated hour with two. */
export type WallPiece =
  | { kind: 'shift'; from: number | null; to: number | null; shift: number }
  | { kind: 'repeated'; from: number; to: number; first: number; second: number };

const HOUR = 3_600_000;

/** The UTC instant where the zone's offset changes, between two instants a step apart (to the minute). */
function changeBetween(zone: TimeZone, lo: number, hi: number): number {
  const before = zone.offsetAt(lo);
  while (hi - lo > 60_000) {
    const mid = Math.floor((lo + hi) / 2 / 60_000) * 60_000;
    if (mid <= lo || mid >= hi) break;
    if (zone.offsetAt(mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The pieces that cover wall-clock times from `minWall` to `maxWall`, in order. Shifts are
 * -offset: Berlin's winter time is shifted by -1 h. A skipped hour (spring-forward) goes with the
 * offset before it, as ship reads it.
 */
export function wallPieces(zone: TimeZone, minWall: number, maxWall: number): WallPiece[] {
  const pieces: WallPiece[] = [];
  let from: number | null = null;
  let offset = zone.offsetAt(minWall - 2 * 86_400_000);
  for (let t = minWall - 2 * 86_400_000; t <= maxWall + 2 * 86_400_000; t += HOUR) {
    const next = zone.offsetAt(t + HOUR);
    if (next === offset) continue;
    const at = changeBetween(zone, t, t + HOUR);
    if (next < offset) {
      // Fall-back: walls in [at + next, at + offset) happen twice.
      pieces.push({ kind: 'shift', from, to: at + next, shift: -offset });
      pieces.push({ kind: 'repeated', from: at + next, to: at + offset, first: -offset, second: -next });
      from = at + offset;
    } else {
      pieces.push({ kind: 'shift', from, to: at + next, shift: -offset });
      from = at + next;
    }
    offset = next;
  }
  pieces.push({ kind: 'shift', from, to: null, shift: -offset });
  return pieces;
}

export interface MigrationDb {
  dialect: 'sqlite' | 'mysql';
  all(sql: string, params: readonly SqlParam[]): Promise<Record<string, unknown>[]>;
  run(sql: string, params: readonly SqlParam[]): Promise<void>;
}

/** `column` moved by `?` seconds, in each dialect. */
function shifted(dialect: MigrationDb['dialect'], column: string): string {
  return dialect === 'sqlite' ? `strftime('%Y-%m-%d %H:%M:%f', ${column}, ? || ' seconds')` : `${column} + INTERVAL ? SECOND`;
}

function timeText(v: unknown): string {
  return v instanceof Date ? msText(v.getTime()) : String(v);
}

/** The pieces in an order where no shifted row is shifted again: up when every shift is down, and the other way. */
function ordered(pieces: WallPiece[]): WallPiece[] {
  const shifts = pieces.flatMap((p) => (p.kind === 'shift' ? [p.shift] : [p.first, p.second]));
  if (shifts.every((s) => s <= 0)) return pieces;
  if (shifts.every((s) => s >= 0)) return [...pieces].reverse();
  throw new UserError(
    'E_TZ',
    'this zone has offsets both east and west of UTC in the stored range: give its servers a fixed --assume-tz offset',
  );
}

function bounds(column: string, from: number | null, to: number | null): { sql: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (from !== null) {
    parts.push(`${column} >= ?`);
    params.push(msText(from));
  }
  if (to !== null) {
    parts.push(`${column} < ?`);
    params.push(msText(to));
  }
  return { sql: parts.map((p) => ` AND ${p}`).join(''), params };
}

/**
 * Moves every stored time to UTC. `zoneOf` names each server's zone; without it, a database with
 * rows is refused (E_SCHEMA_OLD): only `db init` migrates, and says in which zone.
 */
export async function migrateToUtc(db: MigrationDb, zoneOf: ((server: string) => TimeZone) | undefined): Promise<MigratedServer[]> {
  const ranges = await db.all('SELECT server, MIN(qtime) AS lo, MAX(qtime) AS hi, COUNT(*) AS n FROM dns_queries GROUP BY server', []);
  const files = await db.all('SELECT DISTINCT server FROM dnslog_files', []);
  if (zoneOf === undefined) {
    if (ranges.length === 0 && files.length === 0) return [];
    throw new UserError('E_SCHEMA_OLD', `this database ${OLD_SCHEMA}`);
  }
  const out: MigratedServer[] = [];
  const servers = new Map<string, { lo: number; hi: number; n: number }>();
  for (const r of ranges) servers.set(String(r.server), { lo: textMs(timeText(r.lo)), hi: textMs(timeText(r.hi)), n: Number(r.n) });
  for (const f of files) if (!servers.has(String(f.server))) servers.set(String(f.server), { lo: Date.now(), hi: Date.now(), n: 0 });
  for (const [server, range] of servers) {
    const zone = zoneOf(server);
    const fileRange = await db.all('SELECT MIN(first_time) AS lo, MAX(last_time) AS hi FROM dnslog_files WHERE server = ?', [server]);
    const lo = Math.min(range.lo, textMs(timeText(fileRange[0]?.lo ?? '')) || range.lo);
    const hi = Math.max(range.hi, textMs(timeText(fileRange[0]?.hi ?? '')) || range.hi);
    const pieces = ordered(wallPieces(zone, lo, hi));
    for (const p of pieces) {
      if (p.kind === 'shift') {
        if (p.shift === 0) continue;
        const b = bounds('qtime', p.from, p.to);
        await db.run(`UPDATE dns_queries SET qtime = ${shifted(db.dialect, 'qtime')} WHERE server = ?${b.sql}`, [
          p.shift / 1000,
          server,
          ...b.params,
        ]);
      } else {
        await placeRepeatedHour(db, server, p);
      }
      // The ledger's bounds move with the rows (in a repeated hour: first pass for the first time, second for the last).
      for (const [column, shift] of [
        ['first_time', p.kind === 'shift' ? p.shift : p.first],
        ['last_time', p.kind === 'shift' ? p.shift : p.second],
      ] as const) {
        if (shift === 0) continue;
        const b = bounds(column, p.from, p.to);
        await db.run(`UPDATE dnslog_files SET ${column} = ${shifted(db.dialect, column)} WHERE server = ?${b.sql}`, [
          shift / 1000,
          server,
          ...b.params,
        ]);
      }
    }
    await db.run('UPDATE dnslog_files SET tz = ? WHERE server = ? AND tz IS NULL', [zone.name, server]);
    out.push({ server, zone: zone.name, rows: range.n });
  }
  return out;
}

/** The repeated hour's rows, file by file in line order: first pass until a line's time goes back, then the second. */
async function placeRepeatedHour(db: MigrationDb, server: string, p: Extract<WallPiece, { kind: 'repeated' }>): Promise<void> {
  const rows = await db.all(
    'SELECT file_id, line_no, qtime FROM dns_queries WHERE server = ? AND qtime >= ? AND qtime < ? ORDER BY file_id, line_no',
    [server, msText(p.from), msText(p.to)],
  );
  const secondFrom = new Map<number, number>();
  let file = -1;
  let last: number | null = null;
  for (const r of rows) {
    const id = Number(r.file_id);
    if (id !== file) {
      file = id;
      last = null;
    }
    if (secondFrom.has(id)) continue;
    const first = textMs(timeText(r.qtime)) + p.first;
    if (isSecondPass(last, first)) secondFrom.set(id, Number(r.line_no));
    else last = first;
  }
  const fileIds = [...new Set(rows.map((r) => Number(r.file_id)))];
  for (const id of fileIds) {
    const cut = secondFrom.get(id) ?? Number.MAX_SAFE_INTEGER;
    const set = shifted(db.dialect, 'qtime');
    const where = 'WHERE server = ? AND file_id = ? AND qtime >= ? AND qtime < ?';
    // The two passes are disjoint line ranges of the file: neither UPDATE sees the other's rows.
    for (const [shift, cond] of [
      [p.second, 'line_no >= ?'],
      [p.first, 'line_no < ?'],
    ] as const) {
      if (shift !== 0)
        await db.run(`UPDATE dns_queries SET qtime = ${set} ${where} AND ${cond}`, [
          shift / 1000,
          server,
          id,
          msText(p.from),
          msText(p.to),
          cut,
        ]);
    }
  }
}

/** The message for a database whose times are still wall clock. */
const OLD_SCHEMA =
  'stores the name servers’ wall clock (schema before version 5); run `dnslog db init` on it once to move its times to UTC (--assume-tz [SERVER=]ZONE: the zone they were written in, default this host’s)';

/**
 * Commands that read or cut by time (reports, prune, partitions) refuse a database whose times are
 * still wall clock: each answer would be off by the servers' offsets.
 */
export async function requireUtcTimes(store: Pick<Store, 'schemaVersion' | 'description'>): Promise<void> {
  const version = await store.schemaVersion();
  if (version > 0 && version < 5) throw new UserError('E_SCHEMA_OLD', `${store.description} ${OLD_SCHEMA}`);
}
