// Benchmark: the sharded MySQL store (MariaDB Spider) against one plain server, side by side in one run.
//
//   npx turbo run build --filter=dnslog && node apps/dnslog/bench/shard-bench.mjs [lines=1000000] [files=4] [report-rows=2000000] [keep-temp]
//     (skip-ship / skip-reports leave a part out)
//
// Starts its own five MariaDB servers under a temp dir (mariadb-install-db with a private --tmpdir,
// free loopback ports, grant tables skipped; the same settings for all, see SERVER_ARGS): B0..B3
// plain, FRONT with Spider (--plugin-load-add=ha_spider). Stops them at the end, on error and on SIGINT.
//
//   0. writes `lines` realistic BIND 9.18 lines (ship-generate.mjs's generator), dealt out to 12 name
//      servers × `files` rotated files (times moved to the last ~hour), the same files for every run
//   1. ship: `dnslog ship DIR/ns01/query.log.* … DIR/ns12/query.log.* --concurrency 12 --server
//      bench-ns --keep --json --min-age 0 --tz UTC`, one process, 12 sources, fresh databases each:
//      (a) into one plain server (B0)  (b) into the sharded store, front over 1, 2 and 3 backends (B1..),
//      and over 3 with --no-threads
//      A real operator with 12 name servers runs one central `dnslog ship ssh://ns1/… ssh://ns12/…
//      --concurrency 12`: runs per server side by side would meet on the ship lock (GET_LOCK, one
//      per database, on the front: fail, or queue with --lock-wait), and a run with one source
//      loads its files one after the other. The local sources give that run's shape (12 sources,
//      one file at a time each, one load at a time per backend lane) without sshd's CPU; `--server`
//      names all local sources alike, so every row says bench-ns (the bucket hashes the server and
//      the file's content: files still spread).
//      (c) through the front: LOAD DATA LOCAL INFILE (the mariadb client) of the same rows as TSV,
//      each row's `shard` as ship placed its file, into the front's Spider dns_queries over 3
//      backends: as `db init` made it (a first slice of rows only: Spider inserts row by row), and
//      with the table COMMENT 'bulk_size "4194304", direct_dup_insert "1"' (bulk INSERTs); for
//      reference the same TSV straight into a copy of dns_queries on one server. No rollups here.
//   2. reports: `report-rows` synthetic rows over the last 2 days LOADed straight into dns_queries of
//      one server and, split by (server, hour), of the 3 backends of a sharded store; then `dnslog db
//      rebuild-rollups` (--db FRONT rebuilds every backend); then the whole CLI run of `report
//      top-names --since 1h` and `report timeline --since 24h --per hour`, median of 3: single,
//      sharded (--db FRONT; dnslog asks the front for spider_bgs_mode = 1 on its session).
//
// CPU: utime+stime from /proc before and after each step, for every mariadbd and for the processes
// the bench ran meanwhile (dnslog, the mariadb client: this process's cutime+cstime). Before each
// step the bench waits for InnoDB flushing on all servers to settle.
//
// Separate hosts, estimated: on this one machine all servers and dnslog share its CPUs, so wall time
// cannot show what backends on their own hosts would give. Each process would then run on its own
// host, and a run lasts at least as long as its busiest process's CPU time:
//     est. rows/s = rows / max(CPU s of each mariadbd, CPU s of dnslog)                 ("1 core")
// On a sharded store dnslog parses and loads each backend's files in a worker thread of its own
// (one per lane; the main thread reads, hashes and gunzips), so on a host with a core for each
// of its busy threads it lasts as long as its busiest thread (sampled per thread from /proc/PID/task):
//     est. rows/s = rows / max(CPU s of each mariadbd, CPU s of dnslog's busiest thread) ("threads")
// The ratio of either to one server's is the "in CPU terms" speed-up (target: ≥ 2× with 3 backends);
// `--no-threads` (all parsing on the main thread, as before the lane threads) is run for comparison.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { INNODB_DIRTY_SQL, innodbCounts, waitForInnodbFlush } from './innodb-flush.mjs';
import { mulberry32 } from './prng.mjs';
import { writeLogs } from './ship-generate.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const APP = resolve(HERE, '..');
const DNSLOG = join(APP, 'bin', 'dnslog.js');
const SERVERS_N = 12;
const TARGETS = { estRatio3: 2, reportRatio: 1.5 };
/** Rows Spider gets row by row (the table as db init made it): about 8k/s, so a slice only. */
const ROW_BY_ROW_ROWS = 50_000;
const SERVER_ARGS = [
  '--innodb-buffer-pool-size=256M',
  '--innodb-flush-log-at-trx-commit=2',
  '--local-infile=1',
  '--skip-grant-tables',
  '--skip-name-resolve',
  '--bind-address=127.0.0.1',
];
const BULK_COMMENT = `bulk_size "4194304", direct_dup_insert "1"`;

// ---- options: key=value ---------------------------------------------------------------------------
const args = Object.fromEntries(process.argv.slice(2).map((a) => [a.split('=')[0], a.includes('=') ? a.slice(a.indexOf('=') + 1) : 'yes']));
const known = ['lines', 'files', 'report-rows', 'keep-temp', 'skip-ship', 'skip-reports'];
const unknown = Object.keys(args).filter((k) => !known.includes(k));
const num = (k, d) => {
  const n = Number(String(args[k] ?? d).replace(/[_,]/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`${k}=${args[k]}: give a positive whole number`);
  return n;
};
if (unknown.length > 0) {
  process.stderr.write(`shard-bench: unknown argument(s) ${unknown.join(' ')}; known: ${known.join(', ')}\n`);
  process.exit(2);
}
const LINES = num('lines', 1_000_000);
const FILES = num('files', 4);
const REPORT_ROWS = num('report-rows', 2_000_000);

const fmt = (n, d = 0) =>
  n == null || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const say = (s) => process.stdout.write(`${s}\n`);
const tail = (s, n = 4) => String(s).trim().split('\n').slice(-n).join('\n');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- processes and CPU --------------------------------------------------------------------------------
const ENV = { ...process.env, TZ: 'UTC' };
delete ENV.DNSLOG_DB_PASSWORD;
function run(argv, onSpawn) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const c = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    onSpawn?.(c);
    const out = [];
    const err = [];
    c.stdout.on('data', (b) => out.push(b));
    c.stderr.on('data', (b) => err.push(b));
    c.on('error', rej);
    c.on('close', (code) =>
      res({
        code: code ?? 2,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        seconds: (performance.now() - t0) / 1000,
      }),
    );
  });
}
const dnslog = (argv) => run([process.execPath, DNSLOG, ...argv]);
async function mustDnslog(argv) {
  const r = await dnslog(argv);
  if (r.code !== 0) throw new Error(`dnslog ${argv.slice(0, 2).join(' ')} exited ${r.code}: ${tail(r.stderr || r.stdout)}`);
  return r;
}
/** utime+stime (fields 14, 15) or, for `children`, cutime+cstime (16, 17) of /proc/PID/stat, in seconds. */
function procCpu(pid, children = false) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of each thread of a running process, sampled every 100 ms from /proc/PID/task/TID/stat
 * until it ends (a thread's last ≤ 100 ms before it exits are not seen): tid → { name, cpu }.
 */
function sampleThreads(pid) {
  const seen = new Map();
  const sample = () => {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        seen.set(tid, { name, cpu: (Number(f[11]) + Number(f[12])) / 100 });
      } catch {
        /* the thread ended */
      }
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      return [...seen.values()].sort((a, b) => b.cpu - a.cpu);
    },
  };
}

// ---- private MariaDB servers ---------------------------------------------------------------------------
const servers = [];
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}
async function makeServer(root, name, extra) {
  const dir = join(root, name);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const inst = await run([
    'mariadb-install-db',
    '--no-defaults',
    `--datadir=${join(dir, 'data')}`,
    `--tmpdir=${tmp}`,
    '--user=root',
    '--auth-root-authentication-method=socket',
    '--skip-test-db',
  ]);
  if (inst.code !== 0) throw new Error(`mariadb-install-db for ${name}: ${tail(inst.stderr)}`);
  const port = await freePort();
  const child = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${join(dir, 'data')}`,
      `--tmpdir=${tmp}`,
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      `--port=${port}`,
      ...SERVER_ARGS,
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  const srv = { name, port, pid: child.pid, child, dir, conn: null };
  servers.push(srv);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      srv.conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: true, connectTimeout: 5000 });
      return srv;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${name} on 127.0.0.1:${port} did not start (${err.message}); see ${join(dir, 'error.log')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
async function stopServers() {
  await Promise.all(
    servers.splice(0).map(async (s) => {
      await s.conn?.end().catch(() => undefined);
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const gone = new Promise((r) => s.child.once('exit', r));
      s.child.kill('SIGTERM');
      const t = setTimeout(() => s.child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(t);
    }),
  );
}
const url = (s, db) => `mysql://root@127.0.0.1:${s.port}/${db}`;
async function q(s, sql, params) {
  return (await s.conn.query(sql, params))[0];
}
/** Waits (≤ 60 s) until InnoDB's flushing on every server has settled, summed over them. */
async function quiesce() {
  const counts = async () => {
    let dirty = 0;
    let total = 0;
    for (const s of servers) {
      const c = innodbCounts((await q(s, INNODB_DIRTY_SQL)).map((r) => [r.Variable_name, r.Value]));
      dirty += c.dirty;
      total += c.total;
    }
    return { dirty, total };
  };
  const w = await waitForInnodbFlush(counts, { fraction: 0.02, maxSeconds: 60, stallRounds: 2 });
  if (w.seconds > 2) say(`  (waited ${w.seconds.toFixed(0)} s for InnoDB flushing to settle: ${w.dirty} of ${w.total} pages dirty)`);
}
/** Runs fn, with wall seconds, CPU of the processes run meanwhile and of each mariadbd. */
async function measure(fn) {
  await quiesce();
  const c0 = procCpu('self', true);
  const s0 = servers.map((s) => procCpu(s.pid));
  const t0 = performance.now();
  const r = await fn();
  const wall = (performance.now() - t0) / 1000;
  const db = Object.fromEntries(servers.map((s, i) => [s.name, procCpu(s.pid) - s0[i]]));
  return { ...r, wall, clientCpu: procCpu('self', true) - c0, db };
}

// ---- logs ----------------------------------------------------------------------------------------------
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n) => String(n).padStart(2, '0');
const stampOf = (ms) => {
  const d = new Date(ms);
  return `${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
};
const msOf = (s) =>
  Date.UTC(+s.slice(7, 11), MONTHS.indexOf(s.slice(3, 6)), +s.slice(0, 2), +s.slice(12, 14), +s.slice(15, 17), +s.slice(18, 20));
/** One generated log dealt out line by line to 12 servers, each server's lines cut into FILES files; times end 2 min ago. */
function writeServerLogs(root) {
  const all = join(root, 'all.log');
  writeLogs([{ lines: LINES, path: all }]);
  const lines = readFileSync(all, 'latin1').split('\n');
  lines.pop();
  rmSync(all);
  const shift = Math.floor((Date.now() - 120_000 - msOf(lines[lines.length - 1].slice(0, 20))) / 1000) * 1000;
  const perFile = Math.ceil(Math.ceil(lines.length / SERVERS_N) / FILES);
  const out = Array.from({ length: SERVERS_N }, () => Array.from({ length: FILES }, () => []));
  let from = '';
  let to = '';
  for (const [i, l] of lines.entries()) {
    const key = l.slice(0, 20);
    if (key !== from) [from, to] = [key, stampOf(msOf(key) + shift)];
    const s = i % SERVERS_N;
    out[s][Math.floor(Math.floor(i / SERVERS_N) / perFile)].push(to + l.slice(20));
  }
  const dirs = [];
  for (const [s, files] of out.entries()) {
    const dir = join(root, `ns${p2(s + 1)}`);
    mkdirSync(dir);
    dirs.push(dir);
    for (const [f, ls] of files.entries())
      if (ls.length > 0) writeFileSync(join(dir, `query.log.${FILES - f}`), `${ls.join('\n')}\n`, 'latin1');
  }
  return dirs;
}

// ---- ship ----------------------------------------------------------------------------------------------
async function freshDb(list, db) {
  for (const s of list) await q(s, `DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}`);
}
async function dropDb(list, db) {
  for (const s of list) await q(s, `DROP DATABASE IF EXISTS ${db}`);
}
async function shipInto(dbUrl, dirs, extra = []) {
  let sampler = null;
  const r = await run(
    [
      process.execPath,
      DNSLOG,
      'ship',
      ...dirs.map((d) => join(d, 'query.log.*')),
      '--db',
      dbUrl,
      '--server',
      'bench-ns',
      '--concurrency',
      String(SERVERS_N),
      '--keep',
      '--json',
      '--min-age',
      '0',
      '--tz',
      'UTC',
      ...extra,
    ],
    (c) => (sampler = sampleThreads(c.pid)),
  );
  const threads = sampler.stop();
  let t = null;
  try {
    t = JSON.parse(r.stdout).totals;
  } catch {
    /* below */
  }
  if (!t || r.code > 1 || t.failed > 0 || t.loaded !== SERVERS_N * FILES)
    throw new Error(`dnslog ship exited ${r.code}, ${t?.loaded} file(s) loaded, ${t?.failed} failed: ${tail(r.stderr || r.stdout)}`);
  // the busiest thread bounds the process on a host with a core for each of its busy threads
  return { rows: t.rows, busiestThread: threads[0]?.cpu ?? NaN, threads: threads.slice(0, 6) };
}

// ---- main ----------------------------------------------------------------------------------------------
const results = { ship: [], through: [], reports: null };
const errors = [];
let tmp = null;
let loadStart = '';
/** Set by SIGINT/SIGTERM: what fails after it (the servers are going away) is not reported. */
let stopping = false;
const threadText = (threads) => threads.map((t) => `${t.name} ${t.cpu.toFixed(2)}`).join(', ');
async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    if (stopping) return;
    errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    say(`  FAILED: ${err instanceof Error ? err.message : String(err)}`);
  }
}
async function cleanup() {
  await stopServers();
  if (tmp && args['keep-temp'] === undefined) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) say(`temp files kept in ${tmp}`);
  tmp = null;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    stopping = true;
    say(`\n${sig}: stopping the servers`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  loadStart = load();
  const { QUERY_COLUMNS } = await import('../dist/store/row.js');
  const { bucketOf, initialBuckets } = await import('../dist/store/sharded/shard-map.js');
  tmp = mkdtempSync(join(tmpdir(), 'shard-bench-'));
  let t0 = performance.now();
  const made = await Promise.allSettled([
    makeServer(tmp, 'FRONT', ['--plugin-load-add=ha_spider']),
    ...[0, 1, 2, 3].map((i) => makeServer(tmp, `B${i}`, [])),
  ]);
  const failed = made.find((m) => m.status === 'rejected');
  if (failed) throw failed.reason;
  const [front, b0, ...backs] = ['FRONT', 'B0', 'B1', 'B2', 'B3'].map((n) => servers.find((s) => s.name === n));
  const version = (await q(front, 'SELECT VERSION() AS v'))[0].v;
  say(
    `5 private MariaDB ${version} on 127.0.0.1 (${servers.map((s) => `${s.name}:${s.port}`).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${SERVER_ARGS.join(' ')}`,
  );

  if (args['skip-ship'] === undefined) {
    t0 = performance.now();
    const logs = join(tmp, 'logs');
    mkdirSync(logs);
    const dirs = writeServerLogs(logs);
    say(`generated ${fmt(LINES)} lines as ${SERVERS_N} servers × ${FILES} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    say(`\n[1] dnslog ship, 12 sources, --concurrency 12`);
    await step('ship single', async () => {
      await freshDb([b0], 'single');
      await mustDnslog(['db', 'init', '--db', url(b0, 'single')]);
      const r = await measure(() => shipInto(url(b0, 'single'), dirs));
      results.ship.push({ label: 'ship -> one server (B0)', lanes: 1, dbs: ['B0'], ...r });
      say(`  one server: ${fmt(r.rows)} rows in ${r.wall.toFixed(2)} s; busiest threads ${threadText(r.threads)}`);
    });
    for (const k of [1, 2, 3]) {
      await step(`ship sharded ${k}`, async () => {
        const db = `sh${k}`;
        const list = backs.slice(0, k);
        await freshDb([front, ...list], db);
        await mustDnslog(['db', 'init', '--db', url(front, db), ...list.flatMap((b) => ['--shard', url(b, db)])]);
        const r = await measure(() => shipInto(url(front, db), dirs));
        results.ship.push({
          label: `ship -> sharded, ${k} backend${k > 1 ? 's' : ''}`,
          lanes: k,
          dbs: ['FRONT', ...list.map((b) => b.name)],
          ...r,
        });
        say(`  sharded over ${k}: ${fmt(r.rows)} rows in ${r.wall.toFixed(2)} s; busiest threads ${threadText(r.threads)}`);
        await dropDb([front, ...list], db);
      });
    }
    await step('ship sharded 3 --no-threads', async () => {
      const db = 'sh3n';
      const list = backs.slice(0, 3);
      await freshDb([front, ...list], db);
      await mustDnslog(['db', 'init', '--db', url(front, db), ...list.flatMap((b) => ['--shard', url(b, db)])]);
      const r = await measure(() => shipInto(url(front, db), dirs, ['--no-threads']));
      results.ship.push({ label: 'ship -> sharded, 3 backends, --no-threads', lanes: 3, dbs: ['FRONT', ...list.map((b) => b.name)], ...r });
      say(`  sharded over 3, --no-threads: ${fmt(r.rows)} rows in ${r.wall.toFixed(2)} s; busiest threads ${threadText(r.threads)}`);
      await dropDb([front, ...list], db);
    });

    say(`\n[2] LOAD DATA LOCAL INFILE of the same rows (TSV, mariadb client) …`);
    await step('through the front', async () => {
      // each row's shard: where ship put its file on 3 backends
      const buckets = initialBuckets(3);
      const files = await q(b0, 'SELECT id, server, sha256 FROM single.dnslog_files');
      await q(b0, 'CREATE TABLE single.fmap (file_id INT UNSIGNED PRIMARY KEY, shard TINYINT UNSIGNED NOT NULL)');
      await q(b0, 'INSERT INTO single.fmap VALUES ?', [files.map((f) => [f.id, buckets[bucketOf(f.server, f.sha256)]])]);
      const tsv = join(tmp, 'rows.tsv');
      const sel = `SELECT ${QUERY_COLUMNS.map((c) => `IFNULL(q.${c}, '\\\\N')`).join(', ')}, m.shard FROM dns_queries q JOIN fmap m USING (file_id)`;
      const d = await run([
        'sh',
        '-c',
        'mariadb --no-defaults -h127.0.0.1 -P"$1" -uroot --batch --raw --skip-column-names --quick single -e "$2" > "$3"',
        'sh',
        String(b0.port),
        sel,
        tsv,
      ]);
      if (d.code !== 0) throw new Error(`dumping the TSV: ${tail(d.stderr)}`);
      const slice = join(tmp, 'slice.tsv');
      const sliced = readFileSync(tsv, 'utf8').split('\n').filter(Boolean).slice(0, ROW_BY_ROW_ROWS);
      writeFileSync(slice, `${sliced.join('\n')}\n`);
      const loadSql = (file, cols) =>
        `LOAD DATA LOCAL INFILE '${file}' INTO TABLE dns_queries CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${cols})`;
      const client = (s, db, sql) =>
        run(['mariadb', '--no-defaults', '-h127.0.0.1', `-P${s.port}`, '-uroot', '--local-infile=1', db, '-e', sql]);
      const count = async (list, db) => {
        let n = 0;
        for (const s of list) n += Number((await q(s, `SELECT COUNT(*) AS n FROM ${db}.dns_queries`))[0].n);
        return n;
      };
      const list = backs.slice(0, 3);
      const cols = [...QUERY_COLUMNS, 'shard'].join(', ');
      const timed = async (label, s, db, file, c, dbs, target) => {
        const r = await measure(async () => {
          const x = await client(s, db, loadSql(file, c));
          if (x.code !== 0) throw new Error(`${label}: ${tail(x.stderr)}`);
          return {};
        });
        r.rows = await count(target, db);
        results.through.push({ label, dbs, lanes: target.length, ...r });
        say(`  ${label}: ${fmt(r.rows)} rows in ${r.wall.toFixed(2)} s (${fmt(r.rows / r.wall)} rows/s)`);
      };
      // the same TSV straight into one server (shard read into a variable and dropped)
      await freshDb([b0], 'raw');
      await q(b0, 'CREATE TABLE raw.dns_queries LIKE single.dns_queries');
      await timed('LOAD DATA -> one server (B0)', b0, 'raw', tsv, [...QUERY_COLUMNS, '@shard'].join(', '), ['B0'], [b0]);
      await dropDb([b0], 'raw');
      await freshDb([front, ...list], 'via3');
      await mustDnslog(['db', 'init', '--db', url(front, 'via3'), ...list.flatMap((b) => ['--shard', url(b, 'via3')])]);
      const dbs = ['FRONT', ...list.map((b) => b.name)];
      await timed(`LOAD DATA -> FRONT, as db init made it (${fmt(sliced.length / 1000)}k rows)`, front, 'via3', slice, cols, dbs, list);
      for (const b of list) await q(b, 'TRUNCATE TABLE via3.dns_queries');
      await q(front, `ALTER TABLE via3.dns_queries COMMENT = '${BULK_COMMENT.replace(/'/g, "''")}'`);
      await timed('LOAD DATA -> FRONT, bulk COMMENT', front, 'via3', tsv, cols, dbs, list);
      await dropDb([front, ...list], 'via3');
      rmSync(tsv);
      rmSync(slice);
    });
    await dropDb([b0], 'single');
    rmSync(logs, { recursive: true, force: true });
  }

  if (args['skip-reports'] === undefined) {
    say(`\n[3] reports on ${fmt(REPORT_ROWS)} rows over the last 2 days: one server vs 3 backends through the front …`);
    await step('reports', async () => {
      const list = backs.slice(0, 3);
      await freshDb([b0], 'rep');
      await freshDb([front, ...list], 'rep3');
      await mustDnslog(['db', 'init', '--db', url(b0, 'rep')]);
      await mustDnslog(['db', 'init', '--db', url(front, 'rep3'), ...list.flatMap((b) => ['--shard', url(b, 'rep3')])]);
      // report-bench.mjs's rows: 4 servers, 2,000 clients, 50,000 names with skewed popularity, in time order
      const rand = mulberry32(0x2545f491);
      const NAMES = Array.from(
        { length: 50_000 },
        (_, i) => [`host${i}.example.com`, `www.site${i}.example.net`, `_dmarc.d${i}.example.org`, `cdn-${i}.static.example.co.uk`][i % 4],
      );
      const TYPES = ['A', 'A', 'A', 'AAAA', 'AAAA', 'MX', 'TXT', 'HTTPS', 'PTR', 'NS'];
      const start = Date.now() - 2 * 86_400_000;
      const span = 2 * 86_400_000 - 60_000;
      const single = join(tmp, 'rep.tsv');
      const parts = list.map((_, k) => join(tmp, `rep-${k}.tsv`));
      const fds = [single, ...parts].map((p) => ({ p, buf: [], size: 0 }));
      const flush = (f, end = false) => {
        if (f.buf.length > 0 && (end || f.size > 1 << 20)) {
          writeFileSync(f.p, f.buf.join(''), { flag: 'a' });
          f.buf = [];
          f.size = 0;
        }
      };
      for (let i = 0; i < REPORT_ROWS; i++) {
        const t = start + Math.floor((i / REPORT_ROWS) * span);
        const name = NAMES[Math.floor(NAMES.length * rand() ** 3)];
        const srv = i % 4;
        const line = `${new Date(t).toISOString().slice(0, 23).replace('T', ' ')}\tns${srv + 1}\t10.${(i >> 8) & 7}.${Math.floor(rand() * 250)}.${1 + (i % 200)}\t${name}\t${[...name].reverse().join('')}\tIN\t${TYPES[Math.floor(rand() * TYPES.length)]}\t+E(0)K\t1\t0\t0\t0\t0\t${1 + srv * 100_000 + (Math.floor(t / 3_600_000) % 100_000)}\t${i + 1}\n`;
        // a "file" is one server's hour: its rows live on one backend
        const k = (srv + Math.floor(t / 3_600_000)) % list.length;
        for (const f of [fds[0], fds[1 + k]]) {
          f.buf.push(line);
          f.size += line.length;
          flush(f);
        }
      }
      for (const f of fds) flush(f, true);
      const cols = 'qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no';
      const loadInto = async (s, db, file) => {
        const x = await run([
          'mariadb',
          '--no-defaults',
          '-h127.0.0.1',
          `-P${s.port}`,
          '-uroot',
          '--local-infile=1',
          db,
          '-e',
          `LOAD DATA LOCAL INFILE '${file}' INTO TABLE dns_queries FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (${cols}); ANALYZE TABLE dns_queries`,
        ]);
        if (x.code !== 0) throw new Error(`LOAD DATA into ${s.name}/${db}: ${tail(x.stderr)}`);
        return x.seconds;
      };
      const rep = { rows: REPORT_ROWS };
      rep.loadSingle = await loadInto(b0, 'rep', single);
      t0 = performance.now();
      await Promise.all(list.map((b, k) => loadInto(b, 'rep3', parts[k])));
      rep.loadSharded = (performance.now() - t0) / 1000;
      for (const p of [single, ...parts]) rmSync(p);
      say(`  LOAD DATA: one server ${rep.loadSingle.toFixed(1)} s, 3 backends side by side ${rep.loadSharded.toFixed(1)} s`);
      let r = await measure(() => mustDnslog(['db', 'rebuild-rollups', '--db', url(b0, 'rep')]));
      rep.rebuildSingle = r.wall;
      r = await measure(() => mustDnslog(['db', 'rebuild-rollups', '--db', url(front, 'rep3')]));
      rep.rebuildSharded = r.wall;
      say(
        `  db rebuild-rollups: one server ${rep.rebuildSingle.toFixed(1)} s, --db FRONT (every backend in turn) ${rep.rebuildSharded.toFixed(1)} s`,
      );
      await quiesce();
      const reports = [
        ['top-names --since 1h', ['report', 'top-names', '--since', '1h'], 1],
        ['timeline --since 24h --per hour', ['report', 'timeline', '--since', '24h', '--per', 'hour'], 24],
      ];
      rep.cases = [];
      const until = Math.floor(Date.now() / 3_600_000) * 3_600_000;
      const at = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
      // single and sharded take turns, 3 times: the machine's load drifts (dnslog sets spider_bgs_mode = 1 on its front session)
      const timed = async (argv) => (await mustDnslog(argv)).seconds * 1000;
      for (const [label, argv, hours] of reports) {
        const t = { single: [], sharded: [] };
        for (let i = 0; i < 3; i++) {
          t.single.push(await timed([...argv, '--db', url(b0, 'rep')]));
          t.sharded.push(await timed([...argv, '--db', url(front, 'rep3')]));
        }
        const [one, sh] = [median(t.single), median(t.sharded)];
        // the outputs compared on a fixed window (a relative --since moves between runs)
        const fixed = [
          ...argv.slice(0, argv.indexOf('--since')),
          ...argv.slice(argv.indexOf('--since') + 2),
          '--since',
          at(until - hours * 3_600_000),
          '--until',
          at(until),
        ];
        const a = await mustDnslog([...fixed, '--tz', 'UTC', '--db', url(b0, 'rep')]);
        const b = await mustDnslog([...fixed, '--tz', 'UTC', '--db', url(front, 'rep3')]);
        rep.cases.push({ label, single: one, sharded: sh, same: a.stdout === b.stdout && a.stdout.trim() !== '' });
      }
      const node = [];
      for (let i = 0; i < 3; i++) node.push((await dnslog(['--version'])).seconds * 1000);
      rep.nodeMs = median(node);
      results.reports = rep;
      await dropDb([b0], 'rep');
      await dropDb([front, ...list], 'rep3');
    });
  }
  printSummary();
}

function printSummary() {
  const rows = [];
  const base = results.ship[0];
  const perM = (cpu, n) => (cpu * 1e6) / n;
  const total = (r) => r.clientCpu + r.dbs.reduce((s, n) => s + r.db[n], 0);
  const busiest = (r) => Math.max(...r.dbs.map((n) => r.db[n]));
  const est1 = (r) => r.rows / Math.max(busiest(r), r.clientCpu);
  const estLane = (r) => r.rows / Math.max(busiest(r), r.busiestThread);
  const x = (a, b) => (b ? `${fmt(a / b, 2)}x` : '');
  const add = (r, isShip) => {
    const rate = r.rows / r.wall;
    rows.push([
      r.label,
      fmt(r.rows),
      r.wall.toFixed(2),
      fmt(rate),
      base ? x(rate, base.rows / base.wall) : '',
      r.clientCpu.toFixed(2),
      r.dbs.map((n) => `${n} ${r.db[n].toFixed(1)}`).join(' '),
      fmt(perM(r.clientCpu, r.rows), 2),
      fmt(perM(total(r) - r.clientCpu, r.rows), 2),
      fmt(perM(total(r), r.rows), 2),
      base ? x(perM(total(r), r.rows), perM(total(base), base.rows)) : '',
      fmt(est1(r)),
      base ? x(est1(r), est1(base)) : '',
      isShip ? fmt(estLane(r)) : '',
      isShip && base ? x(estLane(r), estLane(base)) : '',
    ]);
  };
  for (const r of results.ship) add(r, true);
  for (const r of results.through) add(r, false);
  const header = [
    'measure',
    'rows',
    'wall s',
    'rows/s',
    'x1 wall',
    'client CPU s',
    'mariadbd CPU s',
    'client s/M',
    'mariadbd s/M',
    'total s/M',
    'x1 CPU/row',
    'est 1-core rows/s',
    'x1',
    'est threads rows/s',
    'x1',
  ];
  say(`\nsummary: ${fmt(LINES)} lines, ${SERVERS_N} servers x ${FILES} files; client = dnslog (ship) or the mariadb client (LOAD DATA);`);
  say('s/M = CPU seconds per million rows; x1 = against one server; est = separate-host estimate (see the header comment);');
  say(`bulk COMMENT = ALTER TABLE dns_queries COMMENT = '${BULK_COMMENT}' on the front (3 backends); LOAD DATA rows carry no rollups`);
  if (rows.length > 0) {
    const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const cell = (v, i) => (i === 0 || i === 6 ? v.padEnd(w[i]) : v.padStart(w[i]));
    say(header.map(cell).join(' | '));
    say(w.map((n) => '-'.repeat(n)).join('-|-'));
    for (const r of rows) say(r.map(cell).join(' | '));
    const s3 = results.ship.find((r) => r.lanes === 3 && !r.label.includes('no-threads'));
    if (s3 && base) {
      const a = est1(s3) / est1(base);
      const b = estLane(s3) / estLane(base);
      say(
        `target: 3 backends >= ${TARGETS.estRatio3}x one server in CPU terms: dnslog on 1 core ${fmt(a, 2)}x (${a >= TARGETS.estRatio3 ? 'met' : 'MISSED'}), dnslog's threads on their own cores ${fmt(b, 2)}x (${b >= TARGETS.estRatio3 ? 'met' : 'MISSED'})`,
      );
    }
  }
  const [direct, , bulk] = results.through;
  if (direct && bulk)
    say(
      `through the front (bulk) vs straight into one server, both LOAD DATA: wall rate ${x(bulk.rows / bulk.wall, direct.rows / direct.wall)}, CPU per row ${x(perM(total(bulk), bulk.rows), perM(total(direct), direct.rows))}, 1-core estimate ${x(est1(bulk), est1(direct))}`,
    );
  const rep = results.reports;
  if (rep) {
    say(
      `\nreports on ${fmt(rep.rows)} rows (LOAD DATA ${rep.loadSingle.toFixed(1)} s single / ${rep.loadSharded.toFixed(1)} s 3 backends; rebuild-rollups ${rep.rebuildSingle.toFixed(1)} s / ${rep.rebuildSharded.toFixed(1)} s); whole CLI run, median of 3, ms:`,
    );
    for (const c of rep.cases)
      say(
        `  ${c.label.padEnd(32)} single ${fmt(c.single).padStart(6)} | sharded ${fmt(c.sharded).padStart(6)} (${x(c.sharded, c.single)}) | target <= ${TARGETS.reportRatio}x: ${c.sharded / c.single <= TARGETS.reportRatio ? 'met' : 'MISSED'}${c.same ? '' : ' | OUTPUT DIFFERS'}`,
      );
    say(`  (node start-up alone, dnslog --version: ${fmt(rep.nodeMs)} ms)`);
  }
  say(
    `machine: ${cpus().length} CPU(s), load average ${loadStart} at the start, ${load()} at the end (all servers and clients share these CPUs)`,
  );
  if (errors.length > 0) say(`\n${errors.length} measurement(s) could not be made:\n${errors.map((e) => `  ${e}`).join('\n')}`);
}

try {
  await main();
} catch (err) {
  if (!stopping) process.stderr.write(`shard-bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 2;
} finally {
  await cleanup();
}
if (errors.length > 0) process.exitCode = 2;
