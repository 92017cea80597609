/**
 * A private Spider cluster for one test file: N backend mariadbd and one front mariadbd with the
 * Spider engine, each a private MariaDB (own datadir, loopback port, grant tables skipped), started
 * in parallel. The database `database` exists on every server; on the front, `CREATE SERVER bI`
 * points at backend I's database (user root, no password: the backends skip grant tables), so a
 * Spider partition says `COMMENT = 'srv "b0", table "t"'`. A backend can be killed and restarted
 * on its datadir to see what the front does without it.
 *
 *   const cluster = await startSpiderCluster(dir, svc.loOnlyWrapper, { backends: 3 });
 *   … mysql.createConnection({ host: cluster.host, port: cluster.front.port, user: 'root' }) …
 *   await cluster.killBackend(1);  …  await cluster.startBackend(1);  …  await cluster.stop();
 *
 * Needs Debian's mariadb-plugin-spider (scripts/install-test-tools.sh installs it).
 */
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createPrivateMariadb, type PrivateMariadb } from './private-mariadb.js';

export interface SpiderClusterOptions {
  /** How many backend servers (default 3). */
  backends?: number;
  /** The database made on every server (front too) and named in each CREATE SERVER (default `shard`). */
  database?: string;
  /** More mariadbd arguments for the front / for every backend. */
  frontArgs?: readonly string[];
  backendArgs?: readonly string[];
}

export interface SpiderCluster {
  /** Every server listens on this address only. */
  host: '127.0.0.1';
  database: string;
  front: PrivateMariadb;
  backends: PrivateMariadb[];
  /** The front's server names, one per backend, in backend order: `b0`, `b1`, … */
  servers: string[];
  /** SIGKILL backend `i` (no shutdown); resolves once it is gone. */
  killBackend(i: number): Promise<void>;
  /** Starts backend `i` again on its datadir, same port, and waits until it answers. */
  startBackend(i: number): Promise<void>;
  /** Stops every server (the front first). Safe to call twice. */
  stop(): Promise<void>;
}

/** A bound on the wait for Spider's system tables on the front. */
const SPIDER_READY_MS = 30_000;
/** Small servers: four of them run at once beside the shared MariaDB. */
const SMALL = ['--innodb-buffer-pool-size=64M'];

export async function startSpiderCluster(dir: string, loOnlyWrapper: string, options: SpiderClusterOptions = {}): Promise<SpiderCluster> {
  const count = options.backends ?? 3;
  const database = options.database ?? 'shard';
  if (!Number.isInteger(count) || count < 1) throw new Error(`startSpiderCluster: backends must be a positive integer, not ${count}`);
  // it goes into DDL as an identifier and a string literal: keep it to the characters needing no quoting
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(database))
    throw new Error(`startSpiderCluster: database name ${JSON.stringify(database)} is not a plain identifier`);

  const servers = Array.from({ length: count }, (_, i) => `b${i}`);
  const everyone: PrivateMariadb[] = [];
  const stopAll = async () => {
    // the front first: it holds connections to the backends
    await Promise.all(everyone.slice(0, 1).map((db) => db.stop()));
    await Promise.all(everyone.slice(1).map((db) => db.stop()));
  };
  // mariadb-install-db takes ~4 s each: all of them at once, and the servers start at once too
  const made = await Promise.allSettled([
    createPrivateMariadb(join(dir, 'front'), loOnlyWrapper, {
      extraArgs: [...SMALL, '--plugin-load-add=ha_spider', ...(options.frontArgs ?? [])],
    }),
    ...servers.map((name) =>
      createPrivateMariadb(join(dir, name), loOnlyWrapper, { extraArgs: [...SMALL, ...(options.backendArgs ?? [])] }),
    ),
  ]);
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  everyone.push(...made.map((r) => (r as PromiseFulfilledResult<PrivateMariadb>).value));
  const [front, ...backends] = everyone as [PrivateMariadb, ...PrivateMariadb[]];

  try {
    const started = await Promise.allSettled(everyone.map((db) => db.start()));
    const notStarted = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (notStarted) throw notStarted.reason;

    await Promise.all(
      backends.map(async (b) => {
        const c = await mysql.createConnection({ host: '127.0.0.1', port: b.port, user: 'root', connectTimeout: 10_000 });
        try {
          await c.query(`CREATE DATABASE IF NOT EXISTS ${database}`);
        } finally {
          await c.end();
        }
      }),
    );

    const c = await mysql.createConnection({ host: '127.0.0.1', port: front.port, user: 'root', connectTimeout: 10_000 });
    try {
      await waitForSpider(c, front);
      await c.query(`CREATE DATABASE IF NOT EXISTS ${database}`);
      for (const [i, b] of backends.entries()) {
        // CREATE SERVER takes literals only, no placeholders; every value here is ours
        await c.query(
          `CREATE OR REPLACE SERVER ${servers[i]} FOREIGN DATA WRAPPER mysql ` +
            `OPTIONS (HOST '127.0.0.1', PORT ${b.port}, USER 'root', PASSWORD '', DATABASE '${database}')`,
        );
      }
    } finally {
      await c.end();
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const backend = (i: number): PrivateMariadb => {
    const b = backends[i];
    if (b === undefined) throw new Error(`Spider cluster: no backend ${i} (there are ${backends.length})`);
    return b;
  };
  return {
    host: '127.0.0.1',
    database,
    front,
    backends,
    servers,
    killBackend: (i) => backend(i).kill(),
    startBackend: (i) => backend(i).start(),
    stop: stopAll,
  };
}

/**
 * 10.11 creates the mysql.spider_* tables while the plugin initialises, before the server answers
 * (checked with --skip-grant-tables too), so this normally passes at once; it fails with the reason
 * when the plugin did not load (mariadbd starts anyway and only logs it).
 */
async function waitForSpider(c: mysql.Connection, front: PrivateMariadb): Promise<void> {
  const deadline = Date.now() + SPIDER_READY_MS;
  for (;;) {
    const [rows] = await c.query<mysql.RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'SPIDER' AND SUPPORT IN ('YES', 'DEFAULT')) AS engine,
              (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'spider_tables') AS tables`,
    );
    const row = rows[0];
    const hasEngine = Number(row?.engine) === 1;
    if (hasEngine && Number(row?.tables) === 1) return;
    // a plugin that failed to load at startup does not load later: no point waiting for it
    if (!hasEngine || Date.now() > deadline) {
      const why = hasEngine ? `mysql.spider_tables was not created within ${SPIDER_READY_MS / 1000} s` : 'the SPIDER engine is not loaded';
      throw new Error(
        `Spider front on 127.0.0.1:${front.port}: ${why}; is mariadb-plugin-spider installed ` +
          `(bash scripts/install-test-tools.sh)? see ${join(front.dir, 'error.log')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
