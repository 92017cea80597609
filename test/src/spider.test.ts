/**
 * The harness for dnslog on MariaDB Spider: three private backend MariaDB servers, each holding
 * its shard of `t` (itself RANGE-partitioned), and a Spider front whose `t` is LIST-partitioned on
 * `backend`, one partition per backend server. What is written straight into the backends must
 * read back through the front — counts, a GROUP BY merged from the backends' partial results, a
 * filter on a column that is not the partition key — and a query that needs a killed backend must
 * fail with Spider's connection error, not answer with part of the data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSpiderCluster, type SpiderCluster } from './private-spider.js';
import { services } from './services-env.js';

const BACKENDS = 3;
/** ER_CONNECT_TO_FOREIGN_DATA_SOURCE: `Unable to connect to foreign data source: b1` (10.11.19; also 11.8.9 by hand, bgs_mode 0). */
const ER_CONNECT_TO_FOREIGN_DATA_SOURCE = 1429;
/** What the same failure reports with spider_bgs_mode=1 (background threads): Spider's own code. */
const ER_SPIDER_REMOTE_GONE = 12701;

interface Row {
  k: number;
  server: string;
  n: number;
}

/**
 * Backend i's rows: a different number on each, keys on both sides of the RANGE boundary (1000),
 * `ns-common` on every backend and `ns-only-I` on backend i alone.
 */
function rowsFor(i: number): Row[] {
  const rows: Row[] = [];
  for (let j = 0; j < 40 + 7 * i; j++) {
    const k = j % 2 === 0 ? j : 1000 + j;
    const server = j % 3 === 0 ? 'ns-common' : j % 3 === 1 ? `ns-only-${i}` : `ns-${j % 5}`;
    rows.push({ k, server, n: i * 100 + j });
  }
  return rows;
}

const backendTable = (i: number) =>
  `CREATE TABLE t (k INT NOT NULL, server VARCHAR(64) NOT NULL, backend TINYINT NOT NULL DEFAULT ${i}, n INT, ` +
  `PRIMARY KEY (backend, k)) PARTITION BY RANGE (k) (PARTITION p0 VALUES LESS THAN (1000), PARTITION p1 VALUES LESS THAN MAXVALUE)`;

// Spider takes the link from each partition's COMMENT. 11.8 warns (138) that COMMENT params are
// deprecated; `REMOTE_SERVER='b0' REMOTE_TABLE='t'` partition options work on 10.11 and 11.8 alike.
const frontTable = (servers: readonly string[]) =>
  `CREATE TABLE t (k INT NOT NULL, server VARCHAR(64) NOT NULL, backend TINYINT NOT NULL, n INT, PRIMARY KEY (backend, k)) ` +
  `ENGINE=SPIDER PARTITION BY LIST (backend) (` +
  servers.map((s, i) => `PARTITION ${s} VALUES IN (${i}) COMMENT = 'srv "${s}", table "t"'`).join(', ') +
  `)`;

let work: string;
let cluster: SpiderCluster;
let front: mysql.Connection;
const backendConns: mysql.Connection[] = [];

const connect = (port: number) =>
  mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: cluster.database, connectTimeout: 10_000 });
const select = async (c: mysql.Connection, sql: string, params: unknown[] = []) => (await c.query<mysql.RowDataPacket[]>(sql, params))[0];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'spider-'));
  cluster = await startSpiderCluster(work, services().loOnlyWrapper, { backends: BACKENDS });
  for (const [i, b] of cluster.backends.entries()) {
    const c = await connect(b.port);
    // killBackend(1) drops this session: without a listener mysql2's 'error' event would be uncaught
    c.on('error', () => undefined);
    backendConns.push(c);
    await c.query(backendTable(i));
    await c.query('INSERT INTO t (k, server, n) VALUES ?', [rowsFor(i).map((r) => [r.k, r.server, r.n])]);
  }
  front = await connect(cluster.front.port);
  await front.query(frontTable(cluster.servers));
});

afterAll(async () => {
  await front?.end().catch(() => undefined);
  await Promise.all(backendConns.map((c) => c.end().catch(() => undefined)));
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('Spider front over three backends', () => {
  it('counts every backend row once', async () => {
    const perBackend = await Promise.all(backendConns.map(async (c) => Number((await select(c, 'SELECT COUNT(*) AS c FROM t'))[0]?.c)));
    expect(perBackend).toEqual([0, 1, 2].map((i) => rowsFor(i).length));
    const [row] = await select(front, 'SELECT COUNT(*) AS c FROM t');
    expect(Number(row?.c)).toBe(perBackend.reduce((a, b) => a + b, 0));
  });

  // bgs_mode 0 asks the backends one after another, 1 in parallel: the merge must not care
  it.each([0, 1])('merges the backends’ GROUP BY server (spider_bgs_mode=%i)', async (mode) => {
    const union = new Map<string, number>();
    for (const c of backendConns) {
      for (const r of await select(c, 'SELECT server, CAST(SUM(n) AS SIGNED) AS total FROM t GROUP BY server')) {
        union.set(String(r.server), (union.get(String(r.server)) ?? 0) + Number(r.total));
      }
    }
    const expected = [...union].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([server, total]) => ({ server, total }));
    // and the backends hold what was written
    const written = new Map<string, number>();
    for (const r of [0, 1, 2].flatMap(rowsFor)) written.set(r.server, (written.get(r.server) ?? 0) + r.n);
    expect(new Map(expected.map((e) => [e.server, e.total]))).toEqual(written);

    await front.query('SET SESSION spider_bgs_mode = ?', [mode]);
    const got = await select(front, 'SELECT server, CAST(SUM(n) AS SIGNED) AS total FROM t GROUP BY server ORDER BY server');
    expect(got.map((r) => ({ server: String(r.server), total: Number(r.total) }))).toEqual(expected);
  });

  it('finds rows on every backend by a column that is not the partition key', async () => {
    const got = await select(
      front,
      'SELECT backend, COUNT(*) AS c, MIN(k) AS lo, MAX(k) AS hi FROM t WHERE server = ? GROUP BY backend ORDER BY backend',
      ['ns-common'],
    );
    const want = [0, 1, 2].map((i) => {
      const ks = rowsFor(i)
        .filter((r) => r.server === 'ns-common')
        .map((r) => r.k);
      return { backend: i, c: ks.length, lo: Math.min(...ks), hi: Math.max(...ks) };
    });
    expect(got.map((r) => ({ backend: Number(r.backend), c: Number(r.c), lo: Number(r.lo), hi: Number(r.hi) }))).toEqual(want);
    // both RANGE partitions of each backend were read
    expect(want.every((w) => w.lo < 1000 && w.hi >= 1000)).toBe(true);
    const [only] = await select(front, 'SELECT GROUP_CONCAT(DISTINCT backend) AS b FROM t WHERE server = ?', ['ns-only-2']);
    expect(String(only?.b)).toBe('2');
  });

  it('fails an unfiltered query with the connection error while a backend is down, and recovers', async () => {
    await cluster.killBackend(1);
    try {
      // Spider retries the connect (spider_connect_retry_count 2 × spider_connect_retry_interval
      // 1000 ms: each failure takes ~2 s). Measured on 10.11.19, fresh or long-lived session alike:
      //   spider_bgs_mode=0: errno 1429 ER_CONNECT_TO_FOREIGN_DATA_SOURCE, sqlState HY000,
      //                      "Unable to connect to foreign data source: b1"
      //   spider_bgs_mode=1: errno 12701 (Spider's own number, no name in mysql2), sqlState HY000,
      //                      the same message
      // and the front's error log: "Got error 12701 when reading table './shard/t'".
      const failure = (mode: number) =>
        front.query('SET SESSION spider_bgs_mode = ?', [mode]).then(() =>
          front.query('SELECT COUNT(*) AS c FROM t').then(
            () => null,
            (e: unknown) => {
              const { errno, sqlState, message } = e as { errno?: number; sqlState?: string; message?: string };
              return { errno, sqlState, message };
            },
          ),
        );
      const message = `Unable to connect to foreign data source: ${cluster.servers[1]}`;
      expect(await failure(0), 'the front answered without backend 1').toEqual({
        errno: ER_CONNECT_TO_FOREIGN_DATA_SOURCE,
        sqlState: 'HY000',
        message,
      });
      expect(await failure(1), 'the front answered without backend 1').toEqual({
        errno: ER_SPIDER_REMOTE_GONE,
        sqlState: 'HY000',
        message,
      });
      // a query pruned to the live backends still answers
      const [row] = await select(front, 'SELECT COUNT(*) AS c FROM t WHERE backend IN (0, 2)');
      expect(Number(row?.c)).toBe(rowsFor(0).length + rowsFor(2).length);
    } finally {
      await cluster.startBackend(1);
    }
    // the front reconnects on its own: no FLUSH, no new session
    const [row] = await select(front, 'SELECT COUNT(*) AS c FROM t');
    expect(Number(row?.c)).toBe([0, 1, 2].reduce((a, i) => a + rowsFor(i).length, 0));
  });
});
