/**
 * `dnslog prune --keep DURATION`: ages data out. MySQL: drops every partition wholly older than the
 * cutoff (a metadata operation, however many rows it holds), each archived and verified first with
 * `--archive`. SQLite: deletes in bounded batches, each its own short transaction, so a running ship
 * is never held up for long.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes, parseDuration, UserError, writeJson, type CliIo } from '@toolbox/shared';
import { archiveName, writeArchive, ARCHIVE_FORMAT, type ArchiveHeader } from '../store/archive.js';
import type { MysqlStore } from '../store/mysql/db-mysql.js';
import type { ShardedStore } from '../store/sharded/db-sharded.js';
import type { SqliteStore } from '../store/sqlite/db-sqlite.js';
import { dropPartitionsConcurrently, listPartitions, partitionSpan, partitionsNewest } from '../store/mysql/partition-admin.js';
import { checkLayout, planPrune, type PartitionInfo } from '../store/mysql/partitions.js';
import { ROLLUPS, rollupBucketSql } from '../store/rollup.js';
import { QUERY_COLUMNS } from '../store/row.js';
import { MYSQL_FIRST_PARTITION } from '../store/schema.js';
import { requireUtcTimes } from '../store/migrate-utc.js';
import { openLockedStore } from '../ship/ship-lock.js';
import { utcText } from '../time/zone.js';

export interface PruneOptions {
  db: string;
  keep: string;
  archive?: string;
  dryRun: boolean;
  batch: number;
  lock?: string;
  /** --lock-wait, in milliseconds. */
  lockWait: number;
  json: boolean;
}

export interface PruneAction {
  /** Partition name (MySQL) or `rows before <cutoff>` (SQLite). */
  target: string;
  rows: number;
  /** The server's estimate (information_schema), not a count. */
  rowsEstimated: boolean;
  bytes: number | null;
  action: 'drop' | 'truncate' | 'delete';
  archive: string | null;
  done: boolean;
}

export interface PruneResult {
  db: string;
  cutoff: string;
  dryRun: boolean;
  actions: PruneAction[];
  kept: { rows: number; bytes: number; estimated: boolean };
}

const COLUMNS_SQL = QUERY_COLUMNS.join(', ');

export async function runPrune(opts: PruneOptions, io: CliIo, now = new Date()): Promise<PruneResult> {
  const keepMs = parseDuration(opts.keep);
  if (keepMs === null || keepMs <= 0) throw new UserError('E_USAGE', `--keep '${opts.keep}': expected a duration like 30d, 12w or 48h`);
  const cutoff = utcText(new Date(now.getTime() - keepMs));
  if (opts.archive !== undefined && !opts.dryRun) mkdirSync(opts.archive, { recursive: true });
  const locked = await openLockedStore(opts.db, { lock: opts.lock, waitMs: opts.lockWait, env: io.env });
  const store = locked.store;
  try {
    await requireUtcTimes(store);
    // the MySQL modules load only for a MySQL store (a SQLite prune does not pay for mysql2)
    const sharded = store.dialect === 'mysql' ? (await import('../store/sharded/db-sharded.js')).ShardedStore : null;
    const result =
      sharded !== null && store instanceof sharded
        ? await pruneSharded(store, cutoff, opts, io)
        : store.dialect === 'mysql'
          ? await pruneMysql(store as MysqlStore, cutoff, opts, io)
          : await pruneSqlite(store as SqliteStore, cutoff, opts, io);
    if (opts.json) writeJson(io.stdout, result);
    else {
      const k = result.kept;
      io.stdout.write(
        `${result.db}: ${opts.dryRun ? 'would keep' : 'kept'} ${k.estimated ? '~' : ''}${k.rows} row(s), ${formatBytes(k.bytes)} ` +
          `from ${cutoff} on (retention ${opts.keep})\n`,
      );
    }
    return result;
  } finally {
    await locked.close();
  }
}

/**
 * A sharded store: every backend drops its own old partitions (archived under ARCHIVE/shardK/
 * first); one result over all, each action's target named `sK/partition`.
 */
async function pruneSharded(store: ShardedStore, cutoff: string, opts: PruneOptions, io: CliIo): Promise<PruneResult> {
  const all: PruneResult = {
    db: store.description,
    cutoff,
    dryRun: opts.dryRun,
    actions: [],
    kept: { rows: 0, bytes: 0, estimated: false },
  };
  for (const [k, backend] of store.backends.entries()) {
    const archive = opts.archive === undefined ? undefined : join(opts.archive, `shard${k}`);
    if (archive !== undefined && !opts.dryRun) mkdirSync(archive, { recursive: true });
    const r = await pruneMysql(backend, cutoff, { ...opts, archive }, io, `s${k}/`);
    all.actions.push(...r.actions);
    all.kept.rows += r.kept.rows;
    all.kept.bytes += r.kept.bytes;
    all.kept.estimated ||= r.kept.estimated;
  }
  return all;
}

function actionLine(a: PruneAction, dryRun: boolean): string {
  const verb = dryRun ? `would ${a.action}` : a.action === 'drop' ? 'dropped' : a.action === 'truncate' ? 'truncated' : 'deleted';
  return `${verb} ${a.target}: ${a.rowsEstimated ? '~' : ''}${a.rows} row(s)${a.bytes === null ? '' : `, ${formatBytes(a.bytes)}`}${a.archive ? `; archive ${a.archive}` : ''}`;
}

async function pruneMysql(store: MysqlStore, cutoff: string, opts: PruneOptions, io: CliIo, label = ''): Promise<PruneResult> {
  const conn = await store.connection();
  const parts = await listPartitions(conn, store.description);
  checkLayout(parts, store.description);
  const plan = planPrune(parts, cutoff);
  const actions: PruneAction[] = [];
  const targets: PartitionInfo[] = [];
  // By its bound every row is older than the cutoff; checked anyway (one index step each), before anything is dropped.
  const newestOf = await partitionsNewest(
    conn,
    plan.drop.map((p) => p.name),
  );
  for (const p of plan.drop) {
    const newest = newestOf.get(p.name) ?? null;
    if (newest !== null && newest >= cutoff) {
      throw new UserError('E_PRUNE', `${p.name} holds a row from ${newest}, newer than the cutoff ${cutoff}; nothing dropped`);
    }
    if (p.name === MYSQL_FIRST_PARTITION && newest === null) continue;
    // Exact counts only when archiving (they are verified); otherwise the server's estimate, so
    // that prune never reads the rows it drops.
    const span = opts.archive !== undefined ? await partitionSpan(conn, p.name) : null;
    const rows = span !== null ? span.rows : newest === null ? 0 : p.rows;
    targets.push(p);
    actions.push({
      target: `${label}${p.name}`,
      rows,
      rowsEstimated: opts.archive === undefined && rows > 0,
      bytes: p.bytes,
      action: p.name === MYSQL_FIRST_PARTITION ? 'truncate' : 'drop',
      archive:
        opts.archive !== undefined && rows > 0
          ? join(opts.archive, archiveName(p.name, span?.oldest ?? null, p.lessThan ?? '', new Date()))
          : null,
      done: false,
    });
  }
  if (!opts.dryRun && targets.length > 0) {
    for (const [i, a] of actions.entries()) {
      const p = targets[i];
      if (a.archive === null || p === undefined) continue;
      const header: ArchiveHeader = {
        format: ARCHIVE_FORMAT,
        version: 1,
        table: 'dns_queries',
        source: p.name,
        until: p.lessThan ?? '',
        columns: QUERY_COLUMNS,
        rows: a.rows,
        createdAt: new Date().toISOString(),
      };
      a.archive = await writeArchive(a.archive, header, mysqlRows(store, p.name));
    }
  }
  if (!opts.dryRun) {
    // The rollups' counts for the time the dropped partitions covered: every bucket before the end
    // of the newest partition wholly older than the cutoff (dropped now or by an earlier run, which
    // makes a prune killed half-way whole again when re-run).
    const bounds = plan.drop.map((p) => p.lessThan).filter((b): b is string => b !== null);
    const boundary = bounds.length === 0 ? null : bounds.reduce((a, b) => (a > b ? a : b));
    await dropPartitionsConcurrently(conn, () => store.extraConnection(), store.description, targets, boundary, {
      maxSeconds: Math.ceil(opts.lockWait / 1000),
      onWait: (line) => io.stderr.write(`${line}\n`),
    });
    for (const a of actions) a.done = true;
  }
  if (!opts.json) for (const a of actions) io.stdout.write(`${actionLine(a, opts.dryRun)}\n`);
  const kept = plan.keep.reduce((acc, p) => ({ rows: acc.rows + p.rows, bytes: acc.bytes + p.bytes }), { rows: 0, bytes: 0 });
  return { db: store.description, cutoff, dryRun: opts.dryRun, actions, kept: { ...kept, estimated: true } };
}

/** A partition's rows as arrays, streamed (a second connection, so memory stays flat). */
async function* mysqlRows(store: MysqlStore, partition: string): AsyncGenerator<unknown[]> {
  const conn = await store.streamingConnection();
  try {
    const stream = conn
      .query({ sql: `SELECT ${COLUMNS_SQL} FROM dns_queries PARTITION (${partition}) ORDER BY qtime, file_id, line_no`, rowsAsArray: true })
      .stream();
    for await (const row of stream) yield row as unknown[];
  } finally {
    conn.end();
  }
}

async function pruneSqlite(store: SqliteStore, cutoff: string, opts: PruneOptions, io: CliIo): Promise<PruneResult> {
  const db = store.db;
  const { n: count, oldest } = db.prepare('SELECT COUNT(*) AS n, MIN(qtime) AS oldest FROM dns_queries WHERE qtime < ?').get(cutoff) as {
    n: number;
    oldest: string | null;
  };
  const action: PruneAction = {
    target: `rows before ${cutoff}`,
    rows: count,
    rowsEstimated: false,
    bytes: null,
    action: 'delete',
    archive: opts.archive !== undefined && count > 0 ? join(opts.archive, archiveName('rows', oldest, cutoff, new Date())) : null,
    done: false,
  };
  if (!opts.dryRun && count > 0) {
    if (action.archive !== null) {
      const header: ArchiveHeader = {
        format: ARCHIVE_FORMAT,
        version: 1,
        table: 'dns_queries',
        source: action.target,
        until: cutoff,
        columns: QUERY_COLUMNS,
        rows: count,
        createdAt: new Date().toISOString(),
      };
      const stmt = db.prepare(`SELECT ${COLUMNS_SQL} FROM dns_queries WHERE qtime < ? ORDER BY qtime`).raw(true);
      function* rows(): Generator<unknown[]> {
        for (const r of stmt.iterate(cutoff)) yield r as unknown[];
      }
      action.archive = await writeArchive(action.archive, header, rows());
    }
    // Each batch deletes its rows and takes their counts off the rollups in one transaction.
    db.exec('CREATE TEMP TABLE IF NOT EXISTS dnslog_prune_batch (rid INTEGER PRIMARY KEY)');
    const pick = db.prepare('INSERT INTO dnslog_prune_batch (rid) SELECT rowid FROM dns_queries WHERE qtime < ? LIMIT ?');
    const batchRows = 'SELECT * FROM dns_queries WHERE rowid IN (SELECT rid FROM dnslog_prune_batch)';
    const subtract = [
      ...ROLLUPS.map(
        ({ table, unit, column: c }) =>
          `UPDATE ${table} AS r SET queries = r.queries - d.n FROM (SELECT ${rollupBucketSql('sqlite', unit)} AS bucket, server, ${c}, COUNT(*) AS n ` +
          `FROM (${batchRows}) GROUP BY 1, 2, 3) AS d WHERE r.bucket = d.bucket AND r.server = d.server AND r.${c} = d.${c}`,
      ),
      ...ROLLUPS.map((r) => `DELETE FROM ${r.table} WHERE queries <= 0`),
    ].map((sql) => db.prepare(sql));
    const del = db.prepare('DELETE FROM dns_queries WHERE rowid IN (SELECT rid FROM dnslog_prune_batch)');
    const clear = db.prepare('DELETE FROM dnslog_prune_batch');
    const batch = db.transaction((limit: number) => {
      clear.run();
      pick.run(cutoff, limit);
      for (const s of subtract) s.run();
      return del.run().changes;
    });
    let deleted = 0;
    for (;;) {
      const n = batch(opts.batch);
      deleted += n;
      if (n < opts.batch) break;
      // Let a ship waiting on the write lock in between batches.
      await new Promise((r) => setImmediate(r));
    }
    action.rows = deleted;
    action.done = true;
  }
  const actions = count > 0 ? [action] : [];
  if (!opts.json) for (const a of actions) io.stdout.write(`${actionLine(a, opts.dryRun)}\n`);
  const keptRows = (db.prepare('SELECT COUNT(*) AS n FROM dns_queries WHERE qtime >= ?').get(cutoff) as { n: number }).n;
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const pages = Number(db.pragma('page_count', { simple: true })) - Number(db.pragma('freelist_count', { simple: true }));
  return {
    db: store.description,
    cutoff,
    dryRun: opts.dryRun,
    actions,
    kept: { rows: keptRows, bytes: pages * pageSize, estimated: false },
  };
}
