/**
 * The MySQL/MariaDB side of partition management: reading the table's partitions and dropping
 * them. (The lock that keeps `partitions`, `prune` and `ship` apart is in ship-lock.ts.)
 */
import type mysql from 'mysql2/promise';
import { errorMessage, UserError } from '@toolbox/shared';
import { ROLLUPS } from '../rollup.js';
import { cellText } from '../row.js';
import {
  checkLayout,
  checkPartitionName,
  parseDescription,
  planPartitions,
  planPrune,
  planRollupSync,
  pruneStatements,
  reshapeCandidates,
  type Granularity,
  type PartitionInfo,
  type PartitionPlan,
} from './partitions.js';
import { MYSQL_CATCHALL_PARTITION } from '../schema.js';
import { runDdl, type DdlWait } from './ddl.js';

export async function listPartitions(conn: mysql.Connection, label: string, table = 'dns_queries'): Promise<PartitionInfo[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT PARTITION_NAME AS name, PARTITION_METHOD AS method, PARTITION_DESCRIPTION AS description,
            TABLE_ROWS AS \`rows\`, DATA_LENGTH + INDEX_LENGTH AS bytes
       FROM information_schema.PARTITIONS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
      ORDER BY PARTITION_ORDINAL_POSITION`,
    [table],
  );
  if (rows.length === 0) throw new UserError('E_NO_TABLE', `${label}: no ${table} table; create it with dnslog db init --db …`);
  if (rows[0]?.name === null || rows[0]?.name === undefined) {
    const column = partitionColumn(table);
    throw new UserError(
      'E_NOT_PARTITIONED',
      `${label}: ${table} is not partitioned (made by an older dnslog); migrate it with ` +
        `ALTER TABLE ${table} PARTITION BY RANGE COLUMNS (${column}) (PARTITION p_start VALUES LESS THAN ('<oldest day>'), PARTITION p_future VALUES LESS THAN (MAXVALUE)) ` +
        `(it copies the table once; the primary key must start with ${column}), then run dnslog partitions`,
    );
  }
  return rows.map((r) => ({
    name: String(r.name),
    lessThan: parseDescription(r.description === null ? null : String(r.description)),
    rows: Number(r.rows ?? 0),
    bytes: Number(r.bytes ?? 0),
  }));
}

/** The column a table is partitioned on: the rows' time, or a rollup's bucket. */
function partitionColumn(table: string): string {
  return table === 'dns_queries' ? 'qtime' : 'bucket';
}

/** Gives every rollup table the partitions dns_queries has beyond its own (see planRollupSync). */
export async function syncRollupPartitions(conn: mysql.Connection, label: string, wait?: DdlWait): Promise<void> {
  const queries = await listPartitions(conn, label);
  for (const { table } of ROLLUPS) {
    for (const stmt of planRollupSync(table, queries, await listPartitions(conn, label, table))) await runDdl(conn, stmt, label, wait);
  }
}

/** Rollup rows per DELETE, for buckets in a partition that straddles the boundary. */
const ROLLUP_DELETE_BATCH = 10_000;

/**
 * Removes one rollup table's counts for everything before `boundary` (the end of the newest
 * partition prune dropped): its partitions wholly before it are dropped like the rows' partitions,
 * and a partition straddling it (only when the layouts differ, e.g. after a migration) is cleared
 * in bounded DELETEs. Re-running it after a kill finishes the job.
 */
export async function pruneRollupTable(
  conn: mysql.Connection,
  label: string,
  table: string,
  boundary: string,
  wait?: DdlWait,
): Promise<void> {
  const plan = planPrune(await listPartitions(conn, label, table), boundary);
  for (const stmt of pruneStatements(plan.drop, table)) await runDdl(conn, stmt, label, wait);
  for (;;) {
    const [r] = await conn.query<mysql.ResultSetHeader>(`DELETE FROM ${table} WHERE bucket < ? LIMIT ${ROLLUP_DELETE_BATCH}`, [boundary]);
    if (r.affectedRows < ROLLUP_DELETE_BATCH) break;
  }
}

/**
 * Drops the rows' partitions `parts` and the rollups' counts before `boundary`, each table on its
 * own connection at the same time: a DROP PARTITION spends most of its time freeing the dropped
 * files, and the four tables' drops overlap instead of queueing (`connect` opens the extra
 * connections; they are closed here). `boundary` null: no rollup is touched.
 */
export async function dropPartitionsConcurrently(
  conn: mysql.Connection,
  connect: () => Promise<mysql.Connection>,
  label: string,
  parts: readonly PartitionInfo[],
  boundary: string | null,
  wait?: DdlWait,
): Promise<void> {
  const extra: mysql.Connection[] = [];
  try {
    if (boundary !== null) {
      const opened = await Promise.allSettled(ROLLUPS.map(() => connect()));
      for (const o of opened) if (o.status === 'fulfilled') extra.push(o.value);
      const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
    }
    const results = await Promise.allSettled([
      (async () => {
        for (const stmt of pruneStatements(parts)) await runDdl(conn, stmt, label, wait);
      })(),
      ...extra.map((c, i) => pruneRollupTable(c, label, ROLLUPS[i]?.table ?? '', boundary ?? '', wait)),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // The other tables' drops may have gone through: the rows and the rollups agree again once a
      // later prune finishes the job.
      throw new UserError('E_PRUNE', `${label}: prune stopped part-way (${errorMessage(failed.reason)}); run it again to finish`, {
        cause: failed.reason,
      });
    }
  } finally {
    await Promise.allSettled(extra.map((c) => c.end()));
  }
}

/**
 * The newest row (time or bucket) of each partition of `table` in `names` (null: empty), in one round trip: each is one step
 * down the primary key, however big the partition, and a prune of 24 hourly partitions on a
 * database across the network waits for one reply, not 24.
 */
export async function partitionsNewest(
  conn: mysql.Connection,
  names: readonly string[],
  table = 'dns_queries',
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  if (names.length === 0) return out;
  for (const name of names) checkPartitionName(name);
  const column = partitionColumn(table);
  const sql = names.map((name, i) => `SELECT ${i} AS i, MAX(${column}) AS newest FROM ${table} PARTITION (${name})`).join(' UNION ALL ');
  const [rows] = await conn.query<mysql.RowDataPacket[]>(sql);
  for (const r of rows) {
    const name = names[Number(r.i)];
    const v = r.newest as unknown;
    if (name !== undefined) out.set(name, v === null || v === undefined ? null : cellText(v));
  }
  if (out.size !== names.length) throw new Error(`newest rows: ${out.size} answer(s) for ${names.length} partition(s)`);
  return out;
}

/** Exact row count and time span of one partition (its name comes from information_schema). */
export async function partitionSpan(
  conn: mysql.Connection,
  name: string,
): Promise<{ rows: number; oldest: string | null; newest: string | null }> {
  checkPartitionName(name);
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS n, MIN(qtime) AS oldest, MAX(qtime) AS newest FROM dns_queries PARTITION (${name})`,
  );
  const r = rows[0];
  return {
    rows: Number(r?.n ?? 0),
    oldest: r?.oldest == null ? null : String(r.oldest),
    newest: r?.newest == null ? null : String(r.newest),
  };
}

export interface MaintainOptions {
  now: Date;
  granularity: Granularity;
  aheadMs: number;
  dryRun: boolean;
  wait?: DdlWait;
}

export interface MaintainResult {
  plan: PartitionPlan;
  /** The partitions before the plan. */
  parts: PartitionInfo[];
  catchAll: { rows: number; oldest: string | null; newest: string | null };
  /** False for a dry run, or when the catch-all holds rows (splitting it would copy them under a lock). */
  applied: boolean;
}

/**
 * Keeps partitions ready ahead of time at one granularity — what `dnslog partitions` and `db init`
 * both do: the catch-all is split up to now + ahead, empty partitions of the other granularity
 * after the current period are reshaped (on the rollup tables too), and the rollups follow.
 */
export async function maintainPartitions(conn: mysql.Connection, label: string, o: MaintainOptions): Promise<MaintainResult> {
  const parts = await listPartitions(conn, label);
  checkLayout(parts, label);
  const catchAll = await partitionSpan(conn, MYSQL_CATCHALL_PARTITION);
  const layout = { now: o.now, granularity: o.granularity, aheadMs: o.aheadMs };
  const empty = await emptyPartitions(conn, 'dns_queries', reshapeCandidates(parts, o.now, o.granularity));
  const plan = planPartitions({ ...layout, parts, empty });
  if (o.dryRun || catchAll.rows > 0) return { plan, parts, catchAll, applied: false };
  for (const stmt of plan.statements) await runDdl(conn, stmt, label, o.wait);
  for (const { table } of ROLLUPS) {
    const own = await listPartitions(conn, label, table);
    const candidates = reshapeCandidates(own, o.now, o.granularity);
    if (candidates.length === 0) continue;
    const reshape = planPartitions({ ...layout, parts: own, empty: await emptyPartitions(conn, table, candidates), table });
    if (reshape.reshaped.length > 0) for (const stmt of reshape.statements) await runDdl(conn, stmt, label, o.wait);
  }
  await syncRollupPartitions(conn, label, o.wait);
  return { plan, parts, catchAll, applied: true };
}

/** Which of `parts` (and the catch-all) hold no row: those with no newest row, in one round trip. */
async function emptyPartitions(conn: mysql.Connection, table: string, parts: readonly PartitionInfo[]): Promise<Set<string>> {
  if (parts.length === 0) return new Set<string>();
  const newest = await partitionsNewest(conn, [...parts.map((p) => p.name), MYSQL_CATCHALL_PARTITION], table);
  return new Set([...newest].filter(([, t]) => t === null).map(([name]) => name));
}
