/** Opens the store a `--db` URL names, loading only that store's driver. */
import { parseDbUrl } from './db-url.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** For commands that only read (reports): a SQLite file that does not exist is an error, never created empty. */
  mustExist?: boolean;
  /** Lines per transaction while a file loads (store.ts LOAD_CHUNK_LINES). */
  chunkLines?: number;
  /** A sharded store: a reader answers from the shards that answer (`report --partial`). */
  partial?: boolean;
}

export async function openStore(url: string, env: NodeJS.ProcessEnv, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseDbUrl(url);
  if (target.kind === 'sqlite') {
    const { SqliteStore } = await import('./sqlite/db-sqlite.js');
    return new SqliteStore(target.path, { mustExist: options.mustExist, chunkLines: options.chunkLines });
  }
  const { MysqlStore, mysqlSettings } = await import('./mysql/db-mysql.js');
  const store = new MysqlStore(mysqlSettings(target, env), undefined, { chunkLines: options.chunkLines });
  // The front of a sharded store holds its map: then every command works on the backends it names.
  const { readShardMap, ShardedStore } = await import('./sharded/db-sharded.js');
  const map = await readShardMap(store).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  return map === null ? store : ShardedStore.open(store, map, env, { chunkLines: options.chunkLines, partial: options.partial });
}
