/**
 * dnslog on MariaDB Spider: a front with the Spider engine over three backend MariaDB servers
 * (private ones this file starts), against the same logs shipped into one ordinary server (the
 * shared MariaDB). `db init --shard` lays the store out; ship puts each file, its ledger entry and
 * its rollups on one backend; every report read through the front equals the single server's,
 * row by row; a re-run ships nothing twice; partitions and prune act on every backend; bad shard
 * lists are refused with one line before anything is created.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool, toolBin, type ToolRun } from './run-tool.js';
import { startSpiderCluster, type SpiderCluster } from './private-spider.js';
import { useScratchDatabase } from './scratch-db.js';
import { services } from './services-env.js';
import { bucketOf, initialBuckets } from '../../apps/dnslog/dist/store/sharded/shard-map.js';

const svc = services();
const scratch = useScratchDatabase('toolbox_dnslog_single', 'dnslog-sharded-');
const DB = 'dnslog';
const env = { DNSLOG_DB_PASSWORD: undefined, TZ: 'UTC' };
const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args[0] === 'ship' ? [...args, '--min-age', '0', '--tz', 'UTC'] : args, { timeoutMs: 180_000, env });

let cluster: SpiderCluster;
/** `db init --db FRONT --shard URL…` */
const initArgs = (frontUrl: string, shardUrls: readonly string[]): string[] => [
  'db',
  'init',
  '--db',
  frontUrl,
  ...shardUrls.flatMap((s) => ['--shard', s]),
];
const url = (port: number, db = DB) => `mysql://root@127.0.0.1:${port}/${db}`;
let front: string;
let shards: string[];

const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** A BIND query line at `ms` (UTC). */
function line(ms: number, client: string, name: string, type = 'A'): string {
  const d = new Date(ms);
  const stamp = `${pad(d.getUTCDate())}-${MON[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
  return `${stamp} queries: info: client @0x7f3729afc098 ${client}#54825 (${name}): query: ${name} IN ${type} +E(0)K (192.0.2.53)`;
}

/** Twelve rotated files from four servers over the last six hours: each server's files in its own directory. */
function writeLogs(root: string): string[] {
  const now = Date.now();
  const dirs: string[] = [];
  for (let s = 0; s < 4; s++) {
    const dir = join(root, `ns${s}`);
    mkdirSync(dir, { recursive: true });
    dirs.push(dir);
    for (let f = 0; f < 3; f++) {
      const lines: string[] = [];
      for (let i = 0; i < 200 + 37 * s + 11 * f; i++) {
        const ms = now - 6 * 3_600_000 + f * 2 * 3_600_000 + i * 29_000 + s * 1000;
        lines.push(line(ms, `192.0.2.${(i % 9) + 1}`, `h${i % 13}.zone${(i + s) % 5}.example`, i % 4 === 0 ? 'AAAA' : 'A'));
      }
      writeFileSync(join(dir, `query.log.${f}`), `${lines.join('\n')}\n`);
    }
  }
  return dirs;
}

beforeAll(async () => {
  cluster = await startSpiderCluster(join(scratch.work, 'cluster'), svc.loOnlyWrapper, { backends: 3, database: DB });
  front = url(cluster.front.port);
  shards = cluster.backends.map((b) => url(b.port));
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

async function count(port: number, sql: string): Promise<number> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: DB });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>(sql);
    return Number(rows[0]?.n);
  } finally {
    await c.end();
  }
}

describe('dnslog sharded over MariaDB Spider', () => {
  it('refuses a bad shard list with one line before anything is created', async () => {
    const closed = url(1);
    const down = await dnslog(initArgs(front, [shards[0]!, closed]));
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(
      /^dnslog: shard backend does not answer: mysql:\/\/root@127\.0\.0\.1:1\/dnslog: .*; nothing was created\n$/,
    );
    // two spellings of one database
    const twice = await dnslog(initArgs(front, [shards[0]!, shards[0]!.replace('mysql://', 'mariadb://')]));
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(
      /^dnslog: --shard mariadb:\/\/root@127\.0\.0\.1:\d+\/dnslog is the same database as --shard mysql:\/\/root@127\.0\.0\.1:\d+\/dnslog; nothing was created\n$/,
    );
    // the shared MariaDB has no Spider engine loaded
    const noSpider = await dnslog(initArgs(scratch.url, [shards[0]!]));
    expect(noSpider.code).toBe(2);
    expect(noSpider.stderr).toMatch(/has no Spider storage engine: .*mariadb-plugin-spider.*; nothing was created\n$/);
    // nothing on the front or the backends
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dnslog'")).toBe(0);
    for (const b of cluster.backends)
      expect(await count(b.port, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dnslog'")).toBe(0);
  });

  it('lays out the backends, the Spider front and the map; init again changes nothing; another list is refused', async () => {
    const init = await dnslog(initArgs(front, shards));
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('(sharded over 3 backends): schema version 5 created');
    const again = await dnslog(initArgs(front, shards));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('schema version 5 up to date');
    expect(await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM dnslog_shard_buckets')).toBe(64);
    // init again keeps the buckets where the front's map has them (a bucket moved since, here by hand)
    const moved = initialBuckets(3)[5]! === 2 ? 0 : 2;
    const c = await mysql.createConnection({ host: '127.0.0.1', port: cluster.front.port, user: 'root', database: DB });
    try {
      await c.query('UPDATE dnslog_shard_buckets SET shard = ? WHERE bucket = 5', [moved]);
      expect((await dnslog(initArgs(front, shards))).code).toBe(0);
      expect(await count(cluster.front.port, 'SELECT shard AS n FROM dnslog_shard_buckets WHERE bucket = 5')).toBe(moved);
      await c.query('UPDATE dnslog_shard_buckets SET shard = ? WHERE bucket = 5', [initialBuckets(3)[5]!]);
    } finally {
      await c.end();
    }
    // every table of a backend but its own dnslog_meta has a Spider table over all backends on the front
    const backendTables = await count(
      cluster.backends[0]!.port,
      "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dnslog' AND TABLE_NAME <> 'dnslog_meta'",
    );
    expect(backendTables).toBeGreaterThanOrEqual(4);
    expect(
      await count(
        cluster.front.port,
        "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dnslog' AND ENGINE = 'SPIDER'",
      ),
    ).toBe(backendTables);
    const other = await dnslog(initArgs(front, [shards[0]!, shards[1]!]));
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/already shards over .*: a different --shard list would move data; .*nothing was changed\n$/);
  });

  it('refuses a backend with another schema version, a backend of another front, and a front table that is not its Spider table', async () => {
    const sql = async (port: number, statements: string[]) => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: false });
      try {
        for (const st of statements) await c.query(st);
      } finally {
        await c.end();
      }
    };
    for (const d of ['other', 'third']) {
      for (const port of [cluster.front.port, ...cluster.backends.map((b) => b.port)])
        await sql(port, [`CREATE DATABASE IF NOT EXISTS ${d}`]);
    }
    // a backend left at schema version 4
    await sql(cluster.backends[1]!.port, [
      'CREATE TABLE other.dnslog_meta (name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT NULL)',
      "INSERT INTO other.dnslog_meta VALUES ('schema_version', '4')",
    ]);
    const old = await dnslog(
      initArgs(url(cluster.front.port, 'other'), [url(cluster.backends[0]!.port, 'other'), url(cluster.backends[1]!.port, 'other')]),
    );
    expect(old.code).toBe(2);
    expect(old.stderr).toBe(
      `dnslog: --shard ${url(cluster.backends[1]!.port, 'other')} has schema version 4; this dnslog writes 5: run dnslog db init --db ${url(cluster.backends[1]!.port, 'other')} on it alone first; nothing was created\n`,
    );
    expect(await count(cluster.backends[0]!.port, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'other'")).toBe(
      0,
    );
    // a backend that is already shard 0 of the front's `dnslog` database
    const taken = await dnslog(initArgs(url(cluster.front.port, 'other'), [shards[0]!]));
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(
      /^dnslog: --shard mysql:\/\/root@127\.0\.0\.1:\d+\/dnslog is shard 0 of another front \(.*\/dnslog\), not shard 0 of this one; nothing was created\n$/,
    );
    // a table on the front that is not the Spider table over these backends: one line saying what to do; a re-run finishes
    await sql(cluster.front.port, ['CREATE TABLE third.dns_queries (x INT)']);
    const third = initArgs(url(cluster.front.port, 'third'), [
      url(cluster.backends[0]!.port, 'third'),
      url(cluster.backends[2]!.port, 'third'),
    ]);
    const clash = await dnslog(third);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(
      /^dnslog: mysql:\/\/root@127\.0\.0\.1:\d+\/third: dns_queries is not a Spider table over 2 backends \(InnoDB, \d+ partitions\): drop it on the front, then run db init again\n$/,
    );
    // no map yet: the front is not opened as sharded until a run finishes
    expect(await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM third.dnslog_shards')).toBe(0);
    await sql(cluster.front.port, ['DROP TABLE third.dns_queries']);
    const finished = await dnslog(third);
    expect({ err: finished.stderr, code: finished.code }).toEqual({ err: '', code: 0 });
    expect(await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM third.dnslog_shard_buckets')).toBe(64);
  });

  it('ships each file to one backend, every line once, and reports through the front equal one server, row by row', async () => {
    const dirs = writeLogs(join(scratch.work, 'logs'));
    expect((await dnslog(['db', 'init', '--db', scratch.url])).code).toBe(0);
    const totals = (r: ToolRun) => (JSON.parse(r.stdout) as { totals: Record<string, number> }).totals;
    /** Ships every server's directory (one run each: --server names them) and adds up the totals. */
    const shipAll = async (db: string) => {
      const sum: Record<string, number> = { loadThreads: 0 };
      for (const [s, dir] of dirs.entries()) {
        const r = await dnslog(['ship', join(dir, 'query.log.*'), '--db', db, '--server', `ns${s}`, '--keep', '--json']);
        expect({ db, s, err: r.stderr, code: r.code }).toEqual({ db, s, err: '', code: 0 });
        for (const [k, v] of Object.entries(totals(r))) sum[k] = (sum[k] ?? 0) + v;
        sum.loadThreads! += (JSON.parse(r.stdout) as { loadThreads: number }).loadThreads;
      }
      return sum;
    };
    const single = await shipAll(scratch.url);
    const sharded = await shipAll(front);
    expect(sharded).toMatchObject({ files: 12, loaded: 12, failed: 0 });
    expect(sharded.rows).toBe(single.rows);
    // one worker thread per backend a run loaded into (parsing beside the others); none for one server
    const map = initialBuckets(3);
    const lanes = dirs.map(
      (dir, s) =>
        new Set(
          readdirSync(dir).map(
            (f) =>
              map[
                bucketOf(
                  `ns${s}`,
                  createHash('sha256')
                    .update(readFileSync(join(dir, f)))
                    .digest('hex'),
                )
              ],
          ),
        ).size,
    );
    expect(single.loadThreads).toBe(0);
    expect(sharded.loadThreads).toBe(lanes.reduce((a, b) => a + b, 0));
    // spread over the backends, each file's rows and ledger entry on the same one
    const perBackend = await Promise.all(cluster.backends.map((b) => count(b.port, 'SELECT COUNT(*) AS n FROM dns_queries')));
    expect(perBackend.reduce((a, b) => a + b, 0)).toBe(single.rows);
    expect(perBackend.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    for (const b of cluster.backends) {
      expect(
        await count(b.port, 'SELECT COUNT(*) AS n FROM dns_queries q LEFT JOIN dnslog_files f ON f.id = q.file_id WHERE f.id IS NULL'),
      ).toBe(0);
    }
    // a re-run loads nothing again
    expect(await shipAll(front)).toMatchObject({ loaded: 0, skipped: 12, loadThreads: 0 });
    expect(await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM dns_queries')).toBe(single.rows);

    const reports = [
      ['top-names', '--since', '24h', '--limit', '1000'],
      ['top-names', '--since', '24h', '--by', 'domain'],
      ['top-clients', '--since', '24h'],
      ['qtypes', '--since', '24h'],
      ['timeline', '--since', '24h', '--per', 'hour'],
      ['timeline', '--since', '24h', '--per', 'minute'],
      ['search', '--since', '24h', '--suffix', 'zone1.example', '--limit', '100000'],
      ['servers'],
    ];
    for (const args of reports) {
      const one = await dnslog(['report', ...args, '--db', scratch.url, '--json']);
      const many = await dnslog(['report', ...args, '--db', front, '--json']);
      expect({ args, err: many.stderr, code: many.code }).toEqual({ args, err: '', code: one.code });
      const rows = (r: ToolRun) => JSON.parse(r.stdout) as Record<string, unknown>[];
      // ledger times differ (shipped_at) and ties may come in either order: compare as sets
      const strip = (r: Record<string, unknown>) => JSON.stringify({ ...r, last_shipped: undefined, file_id: undefined });
      expect({ args, rows: rows(many).map(strip).sort() }).toEqual({ args, rows: rows(one).map(strip).sort() });
      expect(rows(many).length).toBeGreaterThan(0);
    }
  });

  it('keeps partitions ready and prunes on every backend, archives per backend', async () => {
    const parts = await dnslog(['partitions', '--db', front, '--ahead', '48h', '--lock-wait', '10s']);
    expect(parts.stderr).toBe('');
    expect(parts.code).toBe(0);
    for (const b of cluster.backends) {
      expect(parts.stdout).toContain(`mysql://root@127.0.0.1:${b.port}/dnslog:`);
      expect(
        await count(
          b.port,
          "SELECT COUNT(*) AS n FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = 'dnslog' AND TABLE_NAME = 'dns_queries'",
        ),
      ).toBeGreaterThan(40);
    }
    const before = await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM dns_queries');
    const archive = join(scratch.work, 'archive');
    const prune = await dnslog(['prune', '--db', front, '--keep', '3h', '--archive', archive, '--json']);
    expect(prune.stderr).toBe('');
    expect(prune.code).toBe(0);
    const result = JSON.parse(prune.stdout) as { actions: { target: string; rows: number; archive: string | null }[] };
    const dropped = result.actions.reduce((n, a) => n + a.rows, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(result.actions.every((a) => /^s[0-2]\/p/.test(a.target))).toBe(true);
    expect(await count(cluster.front.port, 'SELECT COUNT(*) AS n FROM dns_queries')).toBe(before - dropped);
    const archived = readdirSync(archive).sort();
    expect(archived.every((d) => /^shard[0-2]$/.test(d))).toBe(true);
    expect(archived.length).toBeGreaterThanOrEqual(2);
  });

  it('with a backend down: its files fail naming it, the others ship; reports fail naming it or, with --partial, answer from the rest; a re-run once it is back stores every line once', async () => {
    // files of one more server, until each backend has at least one
    const dir = join(scratch.work, 'logs', 'ns9');
    mkdirSync(dir, { recursive: true });
    const map = initialBuckets(3);
    const shardOfFile = (path: string) => map[bucketOf('ns9', createHash('sha256').update(readFileSync(path)).digest('hex'))]!;
    const files: { path: string; shard: number; lines: number }[] = [];
    for (let f = 0; files.length < 40 && new Set(files.map((x) => x.shard)).size < 3; f++) {
      const path = join(dir, `query.log.${f}`);
      const lines = Array.from({ length: 20 + f }, (_, i) =>
        line(Date.now() - 3_600_000 + i * 1000, '198.51.100.7', `f${f}-${i}.nine.example`),
      );
      writeFileSync(path, `${lines.join('\n')}\n`);
      files.push({ path, shard: shardOfFile(path), lines: lines.length });
    }
    expect(new Set(files.map((x) => x.shard)).size).toBe(3);
    const b1 = `mysql://root@127.0.0.1:${cluster.backends[1]!.port}/dnslog`;
    await cluster.killBackend(1);
    try {
      const ship = await dnslog(['ship', join(dir, 'query.log.*'), '--db', front, '--server', 'ns9', '--keep', '--json']);
      expect(ship.code).toBe(2);
      const report = JSON.parse(ship.stdout) as { files: { path: string; status: string; error?: string }[] };
      for (const f of files) {
        const got = report.files.find((r) => r.path === f.path);
        expect({ path: f.path, shard: f.shard, status: got?.status }).toEqual({
          path: f.path,
          shard: f.shard,
          status: f.shard === 1 ? 'failed' : 'loaded',
        });
        if (f.shard === 1) expect(got?.error).toContain(`cannot connect to ${b1}`);
      }
      const failedLines = ship.stderr.trim().split('\n');
      expect(failedLines.length).toBe(files.filter((f) => f.shard === 1).length);
      for (const l of failedLines)
        expect(l).toMatch(new RegExp(`^dnslog: ns9:.*query\\.log\\.\\d+: cannot connect to ${b1.replace(/[./]/g, '\\$&')}: `));

      const whole = await dnslog(['report', 'qtypes', '--db', front, '--since', '24h', '--json']);
      expect(whole.code).toBe(2);
      // --json: the error as JSON on stdout too
      expect(JSON.parse(whole.stdout)).toMatchObject({ ok: false, error: { code: 'E_SHARD_DOWN' } });
      expect(whole.stderr).toMatch(
        new RegExp(
          `^dnslog: shard 1 ${b1.replace(/[./]/g, '\\$&')} does not answer \\(.*\\): the answer would leave out its files; bring it back, or give --partial to answer from the other shards\\n$`,
        ),
      );
      const partial = await dnslog(['report', 'qtypes', '--db', front, '--since', '24h', '--json', '--partial']);
      expect(partial.code).toBe(1);
      expect(partial.stderr).toBe(
        `dnslog: partial answer (--partial): shard 1 ${b1} did not answer; the figures leave out the files stored there\n`,
      );
      const counted = (JSON.parse(partial.stdout) as { queries: number }[]).reduce((n, r) => n + Number(r.queries), 0);
      const live =
        (await count(cluster.backends[0]!.port, 'SELECT COUNT(*) AS n FROM dns_queries')) +
        (await count(cluster.backends[2]!.port, 'SELECT COUNT(*) AS n FROM dns_queries'));
      expect(counted).toBe(live);
    } finally {
      await cluster.startBackend(1);
    }
    const again = await dnslog(['ship', join(dir, 'query.log.*'), '--db', front, '--server', 'ns9', '--keep', '--json']);
    expect({ err: again.stderr, code: again.code }).toEqual({ err: '', code: 0 });
    const totals = (JSON.parse(again.stdout) as { totals: Record<string, number> }).totals;
    expect(totals).toMatchObject({
      loaded: files.filter((f) => f.shard === 1).length,
      skipped: files.filter((f) => f.shard !== 1).length,
      failed: 0,
    });
    const lines = files.reduce((n, f) => n + f.lines, 0);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns9'")).toBe(lines);
    expect(await count(cluster.front.port, "SELECT COUNT(DISTINCT qname) AS n FROM dns_queries WHERE server = 'ns9'")).toBe(lines);
  });

  it('ship killed with SIGKILL at random points, 10 rounds: after a last run every line is stored once and every file moved once', async () => {
    const dir = join(scratch.work, 'kill');
    mkdirSync(dir);
    let seed = 20261205;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const want: { name: string; lines: number }[] = [];
    let killed = 0;
    for (let round = 0; round < 10; round++) {
      for (let f = 0; f < 2; f++) {
        const name = `query.log.${round}.${f}`;
        const n = 1000 + Math.floor(random() * 6000);
        const lines = Array.from({ length: n }, (_, i) =>
          line(Date.now() - 2 * 3_600_000 + i * 500, '203.0.113.9', `r${round}f${f}n${i}.kill.example`),
        );
        writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
        want.push({ name, lines: n });
      }
      const child = spawn(
        process.execPath,
        [toolBin('dnslog'), 'ship', dir, '--db', front, '--server', 'ns-kill', '--chunk-lines', '700', '--min-age', '0', '--tz', 'UTC'],
        {
          stdio: 'ignore',
          env: { ...process.env, ...env },
        },
      );
      const closed = new Promise<NodeJS.Signals | null>((r) => child.once('close', (_code, signal) => r(signal)));
      await new Promise((r) => setTimeout(r, Math.floor(random() * 900)));
      child.kill('SIGKILL');
      if ((await closed) === 'SIGKILL') killed++;
    }
    // the front ends a dead client's session (and its GET_LOCK) once it notices
    for (let i = 0; i < 300 && (await count(cluster.front.port, "SELECT IS_FREE_LOCK('dnslog.ship:dnslog') AS n")) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = await dnslog(['ship', dir, '--db', front, '--server', 'ns-kill', '--chunk-lines', '700']);
    expect({ err: last.stderr, code: last.code }).toEqual({ err: '', code: 0 });
    expect(killed).toBeGreaterThanOrEqual(3);
    const total = want.reduce((n, w) => n + w.lines, 0);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns-kill'")).toBe(total);
    expect(await count(cluster.front.port, "SELECT COUNT(DISTINCT qname) AS n FROM dns_queries WHERE server = 'ns-kill'")).toBe(total);
    expect(await count(cluster.front.port, "SELECT SUM(queries) AS n FROM dns_rollup_minute WHERE server = 'ns-kill'")).toBe(total);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dnslog_files WHERE server = 'ns-kill' AND done_lines IS NULL")).toBe(
      want.length,
    );
    expect(readdirSync(dir)).toEqual(['old']);
    expect(readdirSync(join(dir, 'old')).sort()).toEqual(want.map((w) => w.name).sort());
  }, 180_000);

  it('in the lane threads: gzip files load, a corrupt one and a binary one fail or are kept as rejects, as on one thread; --no-threads stores the same rows', async () => {
    const dir = join(scratch.work, 'gz-logs');
    mkdirSync(dir);
    const lines = (f: number, n: number) =>
      Array.from({ length: n }, (_, i) => line(Date.now() - 3_600_000 + i * 900, '192.0.2.88', `g${f}-${i}.gz.example`));
    // big enough for many chunks per file through the thread's flow control
    const good = [lines(0, 20_000), lines(1, 5_000), lines(2, 777)];
    for (const [f, l] of good.entries()) writeFileSync(join(dir, `query.log.${f}.gz`), gzipSync(`${l.join('\n')}\n`));
    const whole = gzipSync(`${lines(3, 4_000).join('\n')}\n`);
    writeFileSync(join(dir, 'query.log.3.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    // binary junk with a few good lines: kept as rejects, the good lines stored
    writeFileSync(
      join(dir, 'query.log.4'),
      Buffer.concat([Buffer.from(`${lines(4, 3).join('\n')}\n`), Buffer.from([0, 1, 2, 255, 254, 10, 0x1b, 0x5b, 0x32, 0x4a, 10])]),
    );
    const r = await dnslog(['ship', join(dir, 'query.log.*'), '--db', front, '--server', 'ns-gz', '--keep', '--json']);
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as {
      loadThreads: number;
      totals: Record<string, number>;
      files: { path: string; status: string; error: string | null; rejects: number }[];
    };
    expect(report.loadThreads).toBeGreaterThanOrEqual(1);
    expect(report.totals).toMatchObject({ files: 5, loaded: 4, failed: 1, rows: 20_000 + 5_000 + 777 + 3, rejects: 2 });
    const bad = report.files.find((f) => f.path.endsWith('query.log.3.gz'))!;
    expect(bad.status).toBe('failed');
    expect(bad.error).toMatch(/unexpected end of file/);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^dnslog: ns-gz:.*query\.log\.3\.gz: .*unexpected end of file/)]);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns-gz'")).toBe(25_780);
    // nothing of the corrupt file anywhere: no ledger entry, no rows
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dnslog_files WHERE server = 'ns-gz'")).toBe(4);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE qname LIKE 'g3-%'")).toBe(0);
    // the same files on one thread: the same rows, line for line
    const scratchFront = await mysql.createConnection({ host: '127.0.0.1', port: cluster.front.port, user: 'root', database: DB });
    const rowsNow = async () => {
      const [rows] = await scratchFront.query<mysql.RowDataPacket[]>(
        "SELECT qname, qtime, client_ip, qtype, flags, line_no FROM dns_queries WHERE server = 'ns-gz' ORDER BY qname, line_no",
      );
      return rows.map((x) => JSON.stringify(x));
    };
    try {
      const threaded = await rowsNow();
      for (const b of cluster.backends) {
        const c = await mysql.createConnection({ host: '127.0.0.1', port: b.port, user: 'root', database: DB });
        await c.query("DELETE q, f FROM dnslog_files f JOIN dns_queries q ON q.file_id = f.id WHERE f.server = 'ns-gz'");
        await c.query("DELETE FROM dnslog_files WHERE server = 'ns-gz'");
        await c.end();
      }
      expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns-gz'")).toBe(0);
      const one = await dnslog(['ship', join(dir, 'query.log.*'), '--db', front, '--server', 'ns-gz', '--keep', '--json', '--no-threads']);
      expect(one.code).toBe(2);
      expect((JSON.parse(one.stdout) as { loadThreads: number }).loadThreads).toBe(0);
      expect(await rowsNow()).toEqual(threaded);
    } finally {
      await scratchFront.end();
    }
  });

  it('ships over SSH into the sharded store as from local files: every line once, each file on its backend, moved once', async () => {
    const dir = join(scratch.work, 'ssh-logs');
    mkdirSync(dir);
    let total = 0;
    for (let f = 0; f < 6; f++) {
      const lines = Array.from({ length: 300 + 50 * f }, (_, i) =>
        line(Date.now() - 3_600_000 + i * 700, '192.0.2.77', `s${f}-${i}.ssh.example`),
      );
      writeFileSync(join(dir, `query.log.${f}`), `${lines.join('\n')}\n`);
      total += lines.length;
    }
    const source = `ssh://${svc.sshd.user}@${svc.sshd.host}:${svc.sshd.port}${dir}/query.log.*`;
    const ssh = ['--ssh-user', svc.sshd.user, '--ssh-key', svc.sshd.privateKey, '--known-hosts', svc.sshd.knownHosts];
    const r = await dnslog(['ship', source, '--db', front, '--server', 'ns-ssh', '--json', ...ssh]);
    expect({ err: r.stderr, code: r.code }).toEqual({ err: '', code: 0 });
    expect((JSON.parse(r.stdout) as { totals: Record<string, number> }).totals).toMatchObject({ files: 6, loaded: 6, rows: total });
    const again = await dnslog(['ship', source, '--db', front, '--server', 'ns-ssh', '--json', ...ssh]);
    expect((JSON.parse(again.stdout) as { totals: Record<string, number> }).totals).toMatchObject({ files: 0 });
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns-ssh'")).toBe(total);
    const perBackend = await Promise.all(
      cluster.backends.map((b) => count(b.port, "SELECT COUNT(*) AS n FROM dnslog_files WHERE server = 'ns-ssh'")),
    );
    expect(perBackend.reduce((a, b) => a + b, 0)).toBe(6);
    expect(readdirSync(join(dir, 'old')).length).toBe(6);
  });

  it('a backend killed in the middle of a load: that file fails naming the backend, the others load; after recovery a re-run stores every line once', async () => {
    const dir = join(scratch.work, 'midload');
    mkdirSync(dir);
    const map = initialBuckets(3);
    const shardOf = (path: string) => map[bucketOf('ns-mid', createHash('sha256').update(readFileSync(path)).digest('hex'))]!;
    const files: { path: string; lines: number; shard: number }[] = [];
    // one big file on backend 2 (long enough to be caught loading), small ones elsewhere
    for (let f = 0; files.filter((x) => x.shard === 2 && x.lines > 1000).length < 1 || files.filter((x) => x.shard !== 2).length < 2; f++) {
      const big = !files.some((x) => x.shard === 2 && x.lines > 1000);
      const n = big ? 400_000 : 500;
      const path = join(dir, `query.log.${f}`);
      const lines = Array.from({ length: n }, (_, i) =>
        line(Date.now() - 3_600_000 + (i % 3_000_000), '192.0.2.99', `m${f}-${i}.mid.example`),
      );
      writeFileSync(path, `${lines.join('\n')}\n`);
      const shard = shardOf(path);
      if ((big && shard !== 2) || (!big && shard === 2)) continue; // not the kind this slot needs: written over next round
      files.push({ path, lines: n, shard });
    }
    for (const name of readdirSync(dir)) if (!files.some((f) => f.path === join(dir, name))) rmSync(join(dir, name));
    const b2 = cluster.backends[2]!;
    const child = spawn(
      process.execPath,
      [toolBin('dnslog'), 'ship', dir, '--db', front, '--server', 'ns-mid', '--keep', '--json', '--min-age', '0', '--tz', 'UTC'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    // wait until backend 2 is in the middle of the big file's LOAD DATA, then kill it
    let loading = false;
    for (let i = 0; i < 600 && !loading; i++) {
      loading =
        (await count(b2.port, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%'").catch(() => 0)) > 0;
      if (!loading) await new Promise((r) => setTimeout(r, 50));
    }
    expect(loading).toBe(true);
    await cluster.killBackend(2);
    const code = await exited;
    await cluster.startBackend(2);
    expect(code).toBe(2);
    const b2url = `mysql://root@127.0.0.1:${b2.port}/dnslog`;
    const errLines = err.trim().split('\n');
    expect(errLines.length).toBe(1);
    expect(errLines[0]).toContain(`${b2url}`);
    const report = JSON.parse(out) as { files: { path: string; status: string }[] };
    for (const f of files)
      expect({ path: f.path, status: report.files.find((r) => r.path === f.path)?.status }).toEqual({
        path: f.path,
        status: f.shard === 2 ? 'failed' : 'loaded',
      });
    // after crash recovery the big file's rolled-back part is gone; the re-run loads it once
    const again = await dnslog(['ship', dir, '--db', front, '--server', 'ns-mid', '--keep', '--json']);
    expect({ err: again.stderr, code: again.code }).toEqual({ err: '', code: 0 });
    const total = files.reduce((n, f) => n + f.lines, 0);
    expect(await count(cluster.front.port, "SELECT COUNT(*) AS n FROM dns_queries WHERE server = 'ns-mid'")).toBe(total);
    expect(await count(b2.port, "SELECT COUNT(*) AS n FROM dnslog_files WHERE server = 'ns-mid' AND done_lines IS NULL")).toBe(
      files.filter((f) => f.shard === 2).length,
    );
  }, 240_000);
});
