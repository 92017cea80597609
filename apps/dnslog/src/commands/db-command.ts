/** `dnslog db init`: creates or migrates the schema. `dnslog db rebuild-rollups`: recounts the rollups. */
import { parseDuration, UserError, printable, writeJson, type CliIo } from '@toolbox/shared';
import type { Granularity } from '../store/mysql/partitions.js';
import { parseDbUrl } from '../store/db-url.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { openLockedStore } from '../ship/ship-lock.js';
import { localZone, zonesByServer } from '../time/zone.js';

export interface DbInitLayout {
  granularity: Granularity;
  ahead: string;
  now?: Date;
}

export async function runDbInit(
  db: string,
  json: boolean,
  io: CliIo,
  layout?: DbInitLayout,
  assumeTz?: readonly string[],
  shards?: readonly string[],
): Promise<void> {
  // Times stored before schema version 5 are each server's wall clock: in this zone unless told.
  const given = zonesByServer(assumeTz, '--assume-tz');
  const here = localZone();
  const aheadMs = layout === undefined ? null : parseDuration(layout.ahead);
  if (layout !== undefined && aheadMs === null)
    throw new UserError('E_USAGE', `--ahead '${layout.ahead}': expected a duration like 24h or 3d`);
  const store = shards !== undefined && shards.length > 0 ? await openShardedFront(db, shards, io.env) : await openStore(db, io.env);
  try {
    const status = await store.init({
      layout: layout === undefined || aheadMs === null ? undefined : { granularity: layout.granularity, aheadMs, now: layout.now },
      assumeZone: (server) => given(server) ?? here,
    });
    if (json) writeJson(io.stdout, { db: store.description, ...status });
    else {
      io.stdout.write(`${store.description}: schema version ${status.version} ${status.created ? 'created' : 'up to date'}\n`);
      for (const m of status.migrated ?? [])
        io.stdout.write(`  ${printable(m.server)}: ${m.rows} row(s) moved from ${m.zone} wall-clock time to UTC\n`);
    }
  } finally {
    await store.close();
  }
}

/** After rows were added or removed by hand (SQL, an import): the rollups are counted again from the rows. */
export async function runDbRebuildRollups(db: string, json: boolean, io: CliIo, lockPath?: string): Promise<void> {
  // Under the ship lock: a ship adding to the rollups meanwhile would be counted twice.
  const locked = await openLockedStore(db, { lock: lockPath, waitMs: 60_000, env: io.env });
  const store = locked.store;
  try {
    await store.init();
    const rows = await store.rebuildRollups();
    if (json) writeJson(io.stdout, { db: store.description, rows });
    else io.stdout.write(`${store.description}: rollups rebuilt from ${rows} row(s)\n`);
  } finally {
    await locked.close();
  }
}

/** `db init --shard …`: the front and its backends, checked before anything is created. */
async function openShardedFront(db: string, shards: readonly string[], env: NodeJS.ProcessEnv): Promise<Store> {
  const target = parseDbUrl(db);
  if (target.kind !== 'mysql')
    throw new UserError('E_USAGE', `--shard needs a MySQL/MariaDB front: --db mysql://user@host:port/db, not ${db}`);
  const { MysqlStore, mysqlSettings } = await import('../store/mysql/db-mysql.js');
  const { ShardedStore } = await import('../store/sharded/db-sharded.js');
  return ShardedStore.create(new MysqlStore(mysqlSettings(target, env)), shards, env);
}
