/**
 * `dnslog partitions`: keeps hourly or daily partitions ready ahead of time by splitting the empty
 * catch-all. Idempotent (a second run adds nothing) and safe from cron: it takes the ship lock.
 */
import { ExitCode, parseDuration, UserError, writeJson, type CliIo } from '@toolbox/shared';
import type { MysqlStore } from '../store/mysql/db-mysql.js';
import { ShardedStore } from '../store/sharded/db-sharded.js';
import type { Store } from '../store/store.js';
import { maintainPartitions } from '../store/mysql/partition-admin.js';
import { MAX_PARTITIONS, type Granularity, type NewPartition } from '../store/mysql/partitions.js';
import { MYSQL_CATCHALL_PARTITION } from '../store/schema.js';
import { requireUtcTimes } from '../store/migrate-utc.js';
import { openLockedStore } from '../ship/ship-lock.js';

export interface PartitionsOptions {
  db: string;
  granularity: Granularity;
  ahead: string;
  dryRun: boolean;
  lock?: string;
  /** --lock-wait, in milliseconds. */
  lockWait: number;
  json: boolean;
}

export interface PartitionsResult {
  db: string;
  added: NewPartition[];
  /** Empty partitions of the other granularity replaced by `added` ones. */
  reshaped: string[];
  partitions: number;
  limit: number;
  coveredUntil: string | null;
  catchAllRows: number;
  dryRun: boolean;
}

/** The MySQL stores a command works on: the store itself, or each backend of a sharded one. */
export function mysqlTargets(store: Store, command: string): MysqlStore[] {
  if (store instanceof ShardedStore) return [...store.backends];
  mysqlOnly(store, command);
  return [store];
}

export function mysqlOnly(store: { dialect: string; description: string }, command: string): asserts store is MysqlStore {
  if (store.dialect !== 'mysql') {
    throw new UserError(
      'E_USAGE',
      `${command}: ${store.description} is SQLite, which has no partitions; ${command} works on mysql:// databases`,
    );
  }
}

export async function runPartitions(opts: PartitionsOptions, io: CliIo, now = new Date()): Promise<PartitionsResult> {
  const aheadMs = parseDuration(opts.ahead);
  if (aheadMs === null) throw new UserError('E_USAGE', `--ahead '${opts.ahead}': expected a duration like 24h or 3d`);
  const locked = await openLockedStore(opts.db, { lock: opts.lock, waitMs: opts.lockWait, env: io.env });
  try {
    const targets = mysqlTargets(locked.store, 'dnslog partitions');
    await requireUtcTimes(locked.store);
    // A sharded store: every backend keeps its own partitions (the front's Spider tables are
    // partitioned by backend, never by time); one result each.
    const results: PartitionsResult[] = [];
    for (const store of targets) results.push(await partitionsOn(store, opts, io, aheadMs, now));
    return results[0]!;
  } finally {
    await locked.close();
  }
}

async function partitionsOn(store: MysqlStore, opts: PartitionsOptions, io: CliIo, aheadMs: number, now: Date): Promise<PartitionsResult> {
  const conn = await store.connection();
  const { plan, parts, catchAll } = await maintainPartitions(conn, store.description, {
    now,
    granularity: opts.granularity,
    aheadMs,
    dryRun: opts.dryRun,
    wait: { maxSeconds: Math.ceil(opts.lockWait / 1000), onWait: (line) => io.stderr.write(`${line}\n`) },
  });
  const result: PartitionsResult = {
    db: store.description,
    added: [],
    reshaped: [],
    partitions: parts.length,
    limit: MAX_PARTITIONS,
    coveredUntil: plan.coveredUntil,
    catchAllRows: catchAll.rows,
    dryRun: opts.dryRun,
  };
  if (catchAll.rows > 0) {
    // Splitting a non-empty catch-all copies its rows under a table lock: refuse, loudly.
    io.stderr.write(
      `dnslog: WARNING: ${catchAll.rows} row(s) landed in the catch-all partition ${MYSQL_CATCHALL_PARTITION} ` +
        `(${catchAll.oldest} to ${catchAll.newest}): partitions were not kept ahead of the data. ` +
        `No partition was added (REORGANIZE would copy those rows under a lock). Reports and prune treat them as one partition; ` +
        `move them at a quiet time: ALTER TABLE dns_queries REORGANIZE PARTITION ${MYSQL_CATCHALL_PARTITION} INTO (…), then run dnslog partitions from cron every hour\n`,
    );
    io.setExitCode(ExitCode.Findings);
  } else {
    result.added = plan.add;
    result.reshaped = plan.reshaped;
    result.partitions = plan.total;
  }
  if (plan.reshapeBlocked.length > 0) {
    io.stderr.write(
      `dnslog: ${plan.reshapeBlocked.length} partition(s) from ${plan.reshapeBlocked[0]} on are not ${opts.granularity === 'hour' ? 'hourly' : 'daily'} ` +
        `but hold rows (or the catch-all does): left as they are; new partitions after them are ${opts.granularity === 'hour' ? 'hourly' : 'daily'}\n`,
    );
  }
  if (opts.json) writeJson(io.stdout, result);
  else {
    const verb = opts.dryRun ? 'would add' : 'added';
    if (result.reshaped.length > 0) {
      io.stdout.write(
        `${opts.dryRun ? 'would reshape' : 'reshaped'} ${result.reshaped.length} empty partition(s) ${result.reshaped[0]} … ${result.reshaped.at(-1)} to ${opts.granularity === 'hour' ? 'hourly' : 'daily'} ones\n`,
      );
    }
    for (const p of result.added) io.stdout.write(`${verb} ${p.name} [${p.start}, ${p.lessThan})\n`);
    io.stdout.write(
      `${store.description}: ${result.added.length} partition(s) ${verb}; ${result.partitions} of at most ${MAX_PARTITIONS}; ` +
        `bounded partitions until ${result.coveredUntil ?? '-'}; catch-all ${catchAll.rows === 0 ? 'empty' : `holds ${catchAll.rows} row(s)`}\n`,
    );
  }
  return result;
}
