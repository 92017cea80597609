/** Opens the store a `--db` URL names. */
import { MysqlStore, mysqlSettings } from './db-mysql.js';
import { SqliteStore } from './db-sqlite.js';
import { parseDbUrl } from './db-url.js';
import type { Store } from './store.js';

export function openStore(url: string, env: NodeJS.ProcessEnv): Store {
  const target = parseDbUrl(url);
  return target.kind === 'sqlite' ? new SqliteStore(target.path) : new MysqlStore(mysqlSettings(target, env));
}
