// Benchmark: `dnslog ship` end to end against what a user would otherwise use, side by side in one
// run, on the same generated BIND 9.18 query log (ship-generate.mjs):
//
//   npx turbo run build && npm run bench -w dnslog
//   node apps/dnslog/bench/ship-bench.mjs [--lines N] [--legacy-lines N] [--rss-max N] [--keep-temp]
//
//   0. writes an N-line query log (--lines, default 1,000,000) to a temp dir (not timed)
//   1. dnslog ship FILE --db mysql://…/toolbox_bench           MariaDB, fresh database
//   2. the server's own LOAD DATA LOCAL INFILE of a ready-made TSV of the same rows into an empty
//      copy of dns_queries (CREATE TABLE … LIKE); the TSV is dumped from the shipped rows, untimed
//   3. the legacy pipeline it replaces, cat | sed | awk | mariadb: one autocommitted INSERT per line,
//      IPv4-only columns, the time split naively; on the first --legacy-lines lines only (default
//      100,000), as it manages only about ten thousand rows/s
//   4. dnslog ship FILE --db sqlite:…                           fresh file, three times, taking
//      turns with better-sqlite3 alone inserting the same rows parsed beforehand into memory
//      (sqlite-floor.mjs: one prepared INSERT per row, a connection opened as the store's, the four
//      indexes); their medians are compared. Then the sqlite3 shell's own .import of a TSV of the
//      same rows (dumped from the shipped file, untimed) into an empty dns_queries made by
//      `dnslog db init`: same schema, indexes, page cache; and, for information, better-sqlite3
//      alone with no index, and with the indexes but no fsync at commit (synchronous=NORMAL)
//   5. dnslog ship ssh://root@127.0.0.1:PORT/…/query.log.*       the test sshd on loopback, into
//      SQLite, with the default transport compression and, for information, with --no-compress
//   6. peak RSS (/usr/bin/time %M) of dnslog ship into SQLite at 100k, 1M and --rss-max lines
//      (default 2,000,000; 5,000,000 adds about three minutes)
//
// Times are wall clock around the whole process (start-up, schema, hashing, loading, commit); dnslog's
// own totals.seconds, its CPU time and mariadbd's CPU time meanwhile are printed beside them. Before
// each timed MariaDB load the bench waits for InnoDB's flushing of the previous one to settle.
// Targets are printed next to the figures; a missed target is reported, never an exit code (exit 2
// only when a measurement could not be made). Needs the real services (test/scripts/services.sh):
// started here when they are not running, and then stopped again at the end. The database
// toolbox_bench and the temp dir are removed at the end (--keep-temp keeps the temp dir).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { INNODB_DIRTY_SQL, innodbCounts, waitForInnodbFlush } from './innodb-flush.mjs';
import { LOG_NAME, NAME_COUNT, writeLogs } from './ship-generate.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const APP = resolve(HERE, '..');
const REPO = resolve(APP, '../..');
const DNSLOG = join(APP, 'bin', 'dnslog.js');
const SERVICES = join(REPO, 'test', 'scripts', 'services.sh');
const SERVICES_DIR = process.env.TOOLBOX_SERVICES_DIR ? resolve(process.env.TOOLBOX_SERVICES_DIR) : join(REPO, '.services');
const BENCH_DB = 'toolbox_bench';

const TARGETS = {
  mariadbRate: 200_000,
  legacyRatio: 25,
  loadDataRatio: 0.9,
  sqliteRate: 300_000,
  sqliteFloorRatio: 0.9,
  sshRate: 150_000,
  rssMb: 200,
};

// ---- options ---------------------------------------------------------------------------------------
const usage = () =>
  readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n\n')[0]
    .split('\n')
    .map((l) => l.slice(3))
    .join('\n');
let opt;
try {
  ({ values: opt } = parseArgs({
    options: {
      lines: { type: 'string', default: '1000000' },
      'legacy-lines': { type: 'string', default: '100000' },
      'rss-max': { type: 'string', default: '2000000' },
      'keep-temp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`ship-bench: ${err.message}\n\n${usage()}\n`);
  process.exit(2);
}
if (opt.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}
const count = (name) => {
  const n = Number(String(opt[name]).replace(/[_,]/g, ''));
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`ship-bench: --${name} ${opt[name]}: give a positive whole number of lines\n`);
    process.exit(2);
  }
  return n;
};
const LINES = count('lines');
const LEGACY_LINES = Math.min(count('legacy-lines'), LINES);
/** dnslog → SQLite and better-sqlite3 alone take turns this many times; their medians are compared. */
const SQLITE_ROUNDS = 3;
const RSS_MAX = count('rss-max');
const RSS_SIZES = [...new Set([100_000, 1_000_000, RSS_MAX])].filter((n) => n <= RSS_MAX).sort((a, b) => a - b);

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const say = (s) => process.stdout.write(`${s}\n`);

// ---- processes ---------------------------------------------------------------------------------------
/** Runs argv; resolves with exit code, stdout, stderr and wall seconds. Never throws on a non-zero exit. */
function run(argv, { input, stdoutFd, env } = {}) {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), {
      stdio: [input === undefined ? 'ignore' : 'pipe', stdoutFd ?? 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    const out = [];
    const err = [];
    child.stdout?.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolvePromise({
        code: code ?? (signal ? 128 : 1),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        seconds: (performance.now() - t0) / 1000,
      });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

function tail(s, n = 6) {
  return s.trim().split('\n').slice(-n).join('\n');
}

let TIME_BIN = '/usr/bin/time';
function ensureTimeBinary() {
  if (ensureDebianPackage(TIME_BIN, 'time', () => existsSync(TIME_BIN))) return;
  say('could not install it: peak RSS will be read from /proc/PID/status (VmHWM) instead');
  TIME_BIN = null;
}

/** Installs a Debian package when `present()` says its tool is missing (the bench says so); whether it is there afterwards. */
function ensureDebianPackage(tool, pkg, present) {
  if (present()) return true;
  say(`${tool} is missing: installing the Debian package \`${pkg}\`…`);
  spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return present();
}
const onPath = (bin) => () => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin]).status === 0;

/** Peak RSS of a process tree root without /usr/bin/time: VmHWM polled until the process exits. */
function pollHwm(pid, box) {
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) box.kb = Math.max(box.kb, Number(m[1]));
    } catch {
      clearInterval(timer);
    }
  }, 20);
  return timer;
}

/**
 * `dnslog ship ARGS --json` under /usr/bin/time: wall seconds around the process, dnslog's own report,
 * and peak RSS in MB.
 */
/** better-sqlite3 alone (sqlite-floor.mjs) on the log's rows: one result per run asked for. */
async function sqliteFloor(logFile, tmp, runs) {
  const r = await run([process.execPath, join(HERE, 'sqlite-floor.mjs'), logFile, join(tmp, 'floor.sqlite'), ...runs]);
  if (r.code !== 0) throw new Error(`sqlite-floor.mjs: ${tail(r.stderr)}`);
  return JSON.parse(r.stdout);
}

function floorLabel(f) {
  return `${f.indexes ? 'the 4 indexes' : 'no index'}, synchronous=${f.synchronous}${f.synchronous === 'FULL' ? " (the store's)" : ' (no fsync at commit)'}`;
}

/** The middle item by `key` (the upper one of an even count). */
function median(items, key) {
  return [...items].sort((x, y) => key(x) - key(y))[Math.floor(items.length / 2)];
}

async function dnslogShip(args, tmp, env = process.env) {
  const rssFile = join(tmp, `rss-${process.hrtime.bigint()}.txt`);
  const argv = [process.execPath, DNSLOG, 'ship', ...args, '--keep', '--json', '--min-age', '0'];
  let r;
  let rssKb = null;
  let cpu = null;
  if (TIME_BIN) {
    r = await run([TIME_BIN, '-f', '%M %U %S', '-o', rssFile, ...argv], { env });
    const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(rssFile, 'utf8'));
    rssKb = m ? Number(m[1]) : null;
    cpu = m ? Number(m[2]) + Number(m[3]) : null;
    rmSync(rssFile, { force: true });
  } else {
    const box = { kb: 0 };
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    const timer = pollHwm(child.pid, box);
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    const code = await new Promise((res) => child.on('close', (c) => res(c ?? 1)));
    clearInterval(timer);
    r = {
      code,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      seconds: (performance.now() - t0) / 1000,
    };
    rssKb = box.kb || null;
  }
  let report = null;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    /* reported below */
  }
  if (!report || r.code > 1) {
    throw new Error(`dnslog ship exited ${r.code}: ${tail(r.stderr || r.stdout)}`);
  }
  const t = report.totals;
  if (t.loaded !== 1 || t.failed !== 0) throw new Error(`dnslog ship loaded ${t.loaded} file(s), ${t.failed} failed: ${tail(r.stderr)}`);
  return { wall: r.seconds, rows: t.rows, rejects: t.rejects, ownSeconds: t.seconds, cpu, rssMb: rssKb === null ? null : rssKb / 1024 };
}

const cpuText = (r) => (r.cpu === null ? '' : `, ${r.cpu.toFixed(2)} s CPU`);
function describeShip(r) {
  return (
    `${fmt(r.rows)} rows (${fmt(r.rejects)} rejected) in ${r.wall.toFixed(2)} s wall, ${r.ownSeconds.toFixed(2)} s by dnslog's own clock` +
    `${cpuText(r)} (${fmt(r.rows / r.wall)} rows/s), peak RSS ${r.rssMb === null ? '?' : fmt(r.rssMb, 1)} MB`
  );
}

/** CPU seconds mariadbd has used so far (user + system), or null when its /proc entry is not readable. */
function serverCpu() {
  try {
    const stat = readFileSync(`/proc/${mariadbEnv.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return null;
  }
}
/** Runs fn and adds how much CPU mariadbd spent meanwhile to its result. */
async function withServerCpu(fn) {
  const c0 = serverCpu();
  const r = await fn();
  const c1 = serverCpu();
  r.serverCpu = c0 === null || c1 === null ? null : c1 - c0;
  return r;
}
const serverCpuText = (r) => (r.serverCpu == null ? '' : `; mariadbd used ${r.serverCpu.toFixed(2)} s CPU meanwhile`);

// ---- services and MariaDB ----------------------------------------------------------------------------
async function servicesRunning() {
  const r = await run(['bash', SERVICES, 'status']);
  const running = (name) => new RegExp(`^${name}\\s+running\\b`, 'm').test(r.stdout);
  return running('mariadb') && running('sshd');
}

let mariadbEnv = null;
function mariadb(sqlOrArgs, { db = BENCH_DB, extra = [], stdoutFd } = {}) {
  const argv = ['mariadb', `--defaults-file=${mariadbEnv.clientCnf}`, ...extra, `--database=${db}`];
  if (typeof sqlOrArgs === 'string') argv.push('-e', sqlOrArgs);
  return run(argv, { stdoutFd });
}
async function sql(statement, opts) {
  const r = await mariadb(statement, { extra: ['--batch', '--skip-column-names'], ...opts });
  if (r.code !== 0) throw new Error(`mariadb: ${tail(r.stderr)} (in: ${statement.slice(0, 120)})`);
  return r.stdout;
}

/**
 * Waits (at most 60 s) until InnoDB's background flushing of the previous load has settled (the
 * dirty-page count stops falling, or is small), so that a timed load does not pay for the one before.
 */
async function quiesce(label) {
  const w = await waitForInnodbFlush(
    async () =>
      innodbCounts(
        (await sql(INNODB_DIRTY_SQL, { db: 'toolbox' }))
          .trim()
          .split('\n')
          .map((l) => l.split('\t')),
      ),
    { fraction: 0.02, maxSeconds: 60, stallRounds: 2 },
  );
  if (w.seconds > 2)
    say(`  (waited ${w.seconds.toFixed(0)} s for InnoDB to flush before ${label}: ${w.dirty} of ${w.total} pages still dirty)`);
}

// ---- the legacy pipeline -------------------------------------------------------------------------------
// What the old cron scripts did: strip the prefix and the parentheses with sed, print one INSERT per
// line with awk, pipe it into the mysql client (autocommit: one transaction per row). IPv4-only
// columns (INET_ATON gives NULL for an IPv6 address), the time split naively into two strings, the
// view and ECS thrown away.
const LEGACY_TABLE = `CREATE TABLE legacy (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  qday VARCHAR(11) NOT NULL,
  qtime VARCHAR(12) NOT NULL,
  client INT UNSIGNED NULL,
  port SMALLINT UNSIGNED NULL,
  qname VARCHAR(255) NOT NULL,
  qclass VARCHAR(8) NOT NULL,
  qtype VARCHAR(16) NOT NULL,
  flags VARCHAR(16) NOT NULL,
  server INT UNSIGNED NULL,
  KEY qname (qname),
  KEY client (client)
) ENGINE=InnoDB`;
const LEGACY_SED = [
  's/ queries: info: client @0x[0-9a-f]+ / /',
  's/ \\[ECS [^]]*\\]$//',
  's/\\/key [^ ]+ / /',
  's/ \\([^)]*\\):( view [^:]+:)? query: / /',
  's/#/ /',
  's/ \\(([^)]*)\\)$/ \\1/',
].join('\n');
const LEGACY_AWK =
  `{ printf "INSERT INTO legacy (qday, qtime, client, port, qname, qclass, qtype, flags, server) VALUES ` +
  `('%s', '%s', INET_ATON('%s'), %s, '%s', '%s', '%s', '%s', INET_ATON('%s'));\\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }`;
// A fixed script: the file, the programs and the option file reach it as positional arguments.
const LEGACY_PIPELINE = 'set -o pipefail; cat -- "$1" | sed -E -e "$2" | awk -- "$3" | mariadb --defaults-file="$4" --database="$5"';

// ---- main ------------------------------------------------------------------------------------------------
const results = {};
const errors = [];
let startedServices = [];
let tmp = null;
let dbCreated = false;
let loadStart = '';

async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    say(`  FAILED: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function cleanup() {
  if (dbCreated) {
    const r = await mariadb(`DROP DATABASE IF EXISTS ${BENCH_DB}`, { db: 'toolbox' });
    if (r.code !== 0) say(`could not drop ${BENCH_DB}: ${tail(r.stderr)}`);
    dbCreated = false;
  }
  if (tmp && !opt['keep-temp']) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) say(`temp files kept in ${tmp}`);
  tmp = null;
  if (startedServices.length > 0) {
    say(`stopping the services this bench started: ${startedServices.join(' ')}`);
    await run(['bash', SERVICES, 'stop', ...startedServices]);
    startedServices = [];
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    say(`\n${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  loadStart = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  if (!existsSync(join(APP, 'dist', 'cli.js'))) {
    process.stderr.write('ship-bench: apps/dnslog/dist is missing: build first (npx turbo run build)\n');
    process.exitCode = 2;
    return;
  }
  ensureTimeBinary();

  if (!(await servicesRunning())) {
    say('starting the test services (test/scripts/services.sh start)…');
    const r = await run(['bash', SERVICES, 'start']);
    if (r.code !== 0) throw new Error(`services.sh start failed: ${tail(r.stderr)}`);
    startedServices = JSON.parse(readFileSync(join(SERVICES_DIR, 'env.json'), 'utf8')).started ?? [];
  }
  const env = JSON.parse(readFileSync(join(SERVICES_DIR, 'env.json'), 'utf8'));
  mariadbEnv = env.mariadb;
  const sshd = env.sshd;

  tmp = mkdtempSync(join(tmpdir(), 'ship-bench-'));
  const sizes = [...new Set([LINES, LEGACY_LINES, ...RSS_SIZES])];
  const fileFor = new Map(sizes.map((n) => [n, join(tmp, `lines-${n}`, LOG_NAME)]));
  for (const p of fileFor.values()) mkdirSync(dirname(p), { recursive: true });
  let t0 = performance.now();
  writeLogs(sizes.map((n) => ({ lines: n, path: fileFor.get(n) })));
  const logFile = fileFor.get(LINES);
  const logBytes = statSync(logFile).size;
  say(
    `generated ${fmt(LINES)} BIND 9.18 query-log lines (${fmt(logBytes / 1e6, 1)} MB, ${fmt(NAME_COUNT)} distinct names)` +
      ` and ${sizes.length - 1} prefix file(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${logFile}`,
  );
  say(
    `services: MariaDB ${mariadbEnv.version ?? ''} at ${mariadbEnv.host}:${mariadbEnv.port}, sshd at ${sshd.host}:${sshd.port}` +
      `${startedServices.length > 0 ? ` (started by this bench: ${startedServices.join(' ')})` : ' (already running)'}`,
  );

  await sql(`DROP DATABASE IF EXISTS ${BENCH_DB}; CREATE DATABASE ${BENCH_DB}`, { db: 'toolbox' });
  dbCreated = true;
  const dbUrl = new URL(`mysql://${encodeURIComponent(mariadbEnv.user)}@${mariadbEnv.host}:${mariadbEnv.port}/${BENCH_DB}`);
  dbUrl.searchParams.set('option-file', mariadbEnv.clientCnf);

  // 2. dnslog → MariaDB
  say(`\n[1/6] dnslog ship → MariaDB (${BENCH_DB}, fresh) …`);
  await step('dnslog → MariaDB', async () => {
    await quiesce('dnslog → MariaDB');
    const r = await withServerCpu(() => dnslogShip([logFile, '--db', dbUrl.href, '--server', 'bench-mariadb'], tmp));
    results.mariadb = r;
    say(`  ${describeShip(r)}${serverCpuText(r)}`);
  });

  // 4. LOAD DATA of the same rows (TSV dumped from what dnslog shipped; not timed)
  say(`\n[2/6] LOAD DATA LOCAL INFILE of a ready-made TSV of the same rows → empty copy of dns_queries …`);
  await step('LOAD DATA', async () => {
    const { QUERY_COLUMNS } = await import('../dist/store/row.js');
    const tsv = join(tmp, 'rows.tsv');
    if (!/^[\w/.-]+$/.test(tsv)) throw new Error(`temp path ${tsv} has characters this bench does not quote into SQL`);
    const fd = openSync(tsv, 'w');
    const select = `SELECT ${QUERY_COLUMNS.map((c) => `IFNULL(${c}, '\\\\N')`).join(', ')} FROM dns_queries`;
    const d = await mariadb(select, { extra: ['--batch', '--raw', '--skip-column-names', '--quick'], stdoutFd: fd });
    closeSync(fd);
    if (d.code !== 0) throw new Error(`dumping the TSV: ${tail(d.stderr)}`);
    await sql('CREATE TABLE t2 LIKE dns_queries');
    await quiesce('LOAD DATA');
    const load =
      `LOAD DATA LOCAL INFILE '${tsv}' INTO TABLE t2 CHARACTER SET utf8mb4 ` +
      `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${QUERY_COLUMNS.join(', ')})`;
    const r = await withServerCpu(() => mariadb(load, { extra: ['--local-infile=1'] }));
    if (r.code !== 0) throw new Error(`LOAD DATA: ${tail(r.stderr)}`);
    const rows = Number((await sql('SELECT COUNT(*) FROM t2')).trim());
    results.loadData = { wall: r.seconds, rows, tsvMb: statSync(tsv).size / 1e6, serverCpu: r.serverCpu };
    rmSync(tsv, { force: true });
    say(
      `  ${fmt(rows)} rows from a ${fmt(results.loadData.tsvMb, 1)} MB TSV in ${r.seconds.toFixed(2)} s (${fmt(rows / r.seconds)} rows/s; one mariadb client process, autocommit)${serverCpuText(r)}`,
    );
    await sql('DROP TABLE t2');
  });

  // 3. legacy cat | sed | awk | mariadb
  say(`\n[3/6] legacy cat | sed | awk | mariadb, one autocommitted INSERT per line, first ${fmt(LEGACY_LINES)} lines …`);
  await step('legacy pipeline', async () => {
    await sql(LEGACY_TABLE);
    await quiesce('the legacy pipeline');
    const r = await withServerCpu(() =>
      run([
        'bash',
        '-c',
        LEGACY_PIPELINE,
        'legacy-pipeline',
        fileFor.get(LEGACY_LINES),
        LEGACY_SED,
        LEGACY_AWK,
        mariadbEnv.clientCnf,
        BENCH_DB,
      ]),
    );
    if (r.code !== 0) throw new Error(`pipeline exited ${r.code}: ${tail(r.stderr)}`);
    const rows = Number((await sql('SELECT COUNT(*) FROM legacy')).trim());
    const v4 = Number((await sql('SELECT COUNT(*) FROM legacy WHERE client IS NOT NULL')).trim());
    results.legacy = { wall: r.seconds, rows, v4 };
    say(
      `  ${fmt(rows)} rows in ${r.seconds.toFixed(2)} s (${fmt(rows / r.seconds)} rows/s; ${fmt(rows - v4)} IPv6 clients stored as NULL by the IPv4-only column)${serverCpuText(r)}`,
    );
    await sql('DROP TABLE legacy');
  });

  // 5. dnslog → SQLite, against better-sqlite3 alone: the same rows, parsed beforehand into memory
  // (not timed), one prepared INSERT per row in one transaction, on a connection opened as the
  // store's (sqlite-floor.mjs). The two take turns, SQLITE_ROUNDS times, and the medians are
  // compared: on a small machine one run of either swings by 15 %.
  say(
    `\n[4/6] dnslog ship → SQLite (fresh file), taking turns ${SQLITE_ROUNDS} times with better-sqlite3 alone (the same rows, parsed beforehand, one prepared INSERT, the store's pragmas and 4 indexes) …`,
  );
  await step('dnslog → SQLite', async () => {
    const ships = [];
    const floors = [];
    // MariaDB's flushing of the loads before would take CPU from the first round.
    if (dbCreated) await quiesce('the SQLite rounds');
    for (let i = 0; i < SQLITE_ROUNDS; i++) {
      rmSync(join(tmp, 'bench.sqlite'), { force: true });
      const r = await dnslogShip([logFile, '--db', `sqlite:${join(tmp, 'bench.sqlite')}`, '--server', 'bench-sqlite'], tmp);
      ships.push(r);
      say(`  round ${i + 1}: dnslog ship ${describeShip(r)}`);
      const f = await sqliteFloor(logFile, tmp, ['indexes-full']);
      floors.push(f[0]);
      say(
        `  round ${i + 1}: better-sqlite3 alone: ${fmt(f[0].rows)} rows in ${f[0].seconds.toFixed(2)} s (${fmt(f[0].rows / f[0].seconds)} rows/s)`,
      );
    }
    results.sqlite = median(ships, (r) => r.wall);
    results.sqliteFloor = [median(floors, (f) => f.seconds)];
    say(`  medians: dnslog ${results.sqlite.wall.toFixed(2)} s, better-sqlite3 alone ${results.sqliteFloor[0].seconds.toFixed(2)} s`);
  });

  // 5b. the sqlite3 shell's own .import of a ready-made TSV of the same rows (dumped untimed from
  // what dnslog shipped) into an empty dns_queries with the same schema, indexes and page cache
  // (the shell's .import has no NULL: those columns arrive as empty text, the same bytes or fewer)
  say(`\n[4b/6] sqlite3 .import of a ready-made TSV of the same rows → empty dns_queries (same schema and indexes) …`);
  await step('sqlite3 .import', async () => {
    if (!ensureDebianPackage('sqlite3', 'sqlite3', onPath('sqlite3')))
      throw new Error('sqlite3 is not installed and apt-get could not install it');
    const { QUERY_COLUMNS } = await import('../dist/store/row.js');
    const tsv = join(tmp, 'rows-sqlite.tsv');
    const fd = openSync(tsv, 'w');
    const d = await run(
      [
        'sqlite3',
        '-batch',
        '-noheader',
        '-cmd',
        '.mode tabs',
        join(tmp, 'bench.sqlite'),
        `SELECT ${QUERY_COLUMNS.join(', ')} FROM dns_queries`,
      ],
      { stdoutFd: fd },
    );
    closeSync(fd);
    if (d.code !== 0) throw new Error(`dumping the TSV: ${tail(d.stderr)}`);
    const target = join(tmp, 'import.sqlite');
    const init = await run([process.execPath, DNSLOG, 'db', 'init', '--db', `sqlite:${target}`]);
    if (init.code !== 0) throw new Error(`db init: ${tail(init.stderr)}`);
    const r = await run([
      'sqlite3',
      '-batch',
      '-cmd',
      'PRAGMA cache_size = -32768',
      '-cmd',
      '.mode tabs',
      target,
      `.import ${tsv} dns_queries`,
    ]);
    if (r.code !== 0 || r.stderr.trim() !== '') throw new Error(`.import: ${tail(r.stderr) || `exit ${r.code}`}`);
    const c = await run(['sqlite3', target, 'SELECT COUNT(*) FROM dns_queries']);
    const rows = Number(c.stdout.trim());
    if (results.sqlite && rows !== results.sqlite.rows)
      throw new Error(`.import loaded ${rows} rows, dnslog shipped ${results.sqlite.rows}`);
    results.sqliteImport = { wall: r.seconds, rows, tsvMb: statSync(tsv).size / 1e6 };
    rmSync(tsv, { force: true });
    rmSync(target, { force: true });
    say(
      `  ${fmt(rows)} rows from a ${fmt(results.sqliteImport.tsvMb, 1)} MB TSV in ${r.seconds.toFixed(2)} s (${fmt(rows / r.seconds)} rows/s; one transaction)`,
    );
  });

  // 5c. for information: better-sqlite3 alone with no index at all, and with the four indexes but
  // synchronous=NORMAL (no fsync at commit: what durability costs)
  say(`\n[4c/6] better-sqlite3 alone, for information: no index; the 4 indexes without the commit's fsync …`);
  await step('better-sqlite3 floor (info)', async () => {
    const runs = await sqliteFloor(logFile, tmp, ['none-full', 'indexes-normal']);
    results.sqliteFloor = [...(results.sqliteFloor ?? []), ...runs];
    for (const f of runs) say(`  ${floorLabel(f)}: ${fmt(f.rows)} rows in ${f.seconds.toFixed(2)} s (${fmt(f.rows / f.seconds)} rows/s)`);
  });

  // 6. dnslog over SSH → SQLite, with and without transport compression
  const sshDir = join(tmp, 'ssh-source');
  mkdirSync(sshDir);
  copyFileSync(logFile, join(sshDir, LOG_NAME));
  const sshUrl = `ssh://${sshd.user}@${sshd.host}:${sshd.port}${sshDir}/query.log.*`;
  const sshArgs = ['--ssh-user', sshd.user, '--ssh-key', sshd.privateKey, '--known-hosts', sshd.knownHosts];
  say(`\n[5/6] dnslog ship ${sshUrl} → SQLite (sshd on loopback; default = gzip in transit) …`);
  await step('dnslog ssh → SQLite', async () => {
    const r = await dnslogShip([sshUrl, ...sshArgs, '--db', `sqlite:${join(tmp, 'ssh.sqlite')}`, '--server', 'bench-ssh'], tmp);
    results.ssh = r;
    say(`  ${describeShip(r)}`);
  });
  await step('dnslog ssh --no-compress → SQLite', async () => {
    const r = await dnslogShip(
      [sshUrl, ...sshArgs, '--no-compress', '--db', `sqlite:${join(tmp, 'ssh-plain.sqlite')}`, '--server', 'bench-ssh'],
      tmp,
    );
    results.sshPlain = r;
    say(`  --no-compress: ${describeShip(r)}`);
  });
  rmSync(sshDir, { recursive: true, force: true });

  // 7. peak RSS at growing sizes
  say(`\n[6/6] peak RSS of dnslog ship → SQLite at ${RSS_SIZES.map((n) => fmt(n)).join(', ')} lines …`);
  results.rss = [];
  for (const n of RSS_SIZES) {
    await step(`RSS ${n}`, async () => {
      const r = await dnslogShip([fileFor.get(n), '--db', `sqlite:${join(tmp, `rss-${n}.sqlite`)}`, '--server', `bench-rss-${n}`], tmp);
      results.rss.push({ lines: n, ...r });
      rmSync(join(tmp, `rss-${n}.sqlite`), { force: true });
      say(`  ${fmt(n).padStart(9)} lines: ${describeShip(r)}`);
    });
  }

  printSummary();
}

function printSummary() {
  const rate = (r) => r.rows / r.wall;
  const rows = [];
  const verdict = (ok) => (ok ? 'ok' : 'MISSED');
  const mb = (r) => (r?.rssMb == null ? '' : fmt(r.rssMb, 1));
  /** One table row; `r` null for a ratio-only row, `seconds` overridable (dnslog's own clock). */
  const line = (measure, r, { ratio = '', target = '', seconds = r?.wall, rss = '' } = {}) =>
    rows.push([
      measure,
      r ? fmt(r.rows) : '',
      seconds === undefined ? '' : seconds.toFixed(2),
      r && seconds ? fmt(r.rows / seconds) : '',
      ratio,
      rss,
      target,
    ]);
  const { mariadb: m, legacy: l, loadData: ld, sqlite: s, sqliteImport: si, ssh, sshPlain, rss } = results;
  if (l) line(`legacy cat|sed|awk|mariadb, INSERT per line (first ${fmt(LEGACY_LINES)} lines only)`, l, { ratio: '1.00 (baseline)' });
  if (ld) line('MariaDB LOAD DATA LOCAL INFILE of a ready-made TSV', ld, { ratio: l ? `${fmt(rate(ld) / rate(l), 1)}x legacy` : '' });
  if (m) {
    line('dnslog ship -> MariaDB (wall, whole process)', m, {
      rss: mb(m),
      target: `>= ${fmt(TARGETS.mariadbRate)} rows/s: ${verdict(rate(m) >= TARGETS.mariadbRate)}`,
    });
    line("  same run, dnslog's own totals.seconds", m, { seconds: m.ownSeconds });
    if (l)
      line('  dnslog -> MariaDB vs legacy', null, {
        ratio: `${fmt(rate(m) / rate(l), 1)}x`,
        target: `>= ${TARGETS.legacyRatio}x: ${verdict(rate(m) / rate(l) >= TARGETS.legacyRatio)}`,
      });
    if (ld)
      line('  dnslog -> MariaDB vs LOAD DATA', null, {
        ratio: `${fmt(rate(m) / rate(ld), 2)}x`,
        target: `>= ${TARGETS.loadDataRatio}x: ${verdict(rate(m) / rate(ld) >= TARGETS.loadDataRatio)}`,
      });
  }
  if (s)
    line('dnslog ship -> SQLite', s, {
      rss: mb(s),
      ratio: l ? `${fmt(rate(s) / rate(l), 1)}x legacy` : '',
      target: `>= ${fmt(TARGETS.sqliteRate)} rows/s: ${verdict(rate(s) >= TARGETS.sqliteRate)}`,
    });
  if (si) line('sqlite3 .import of a ready-made TSV (same schema and indexes)', si);
  if (s && si) line('  dnslog -> SQLite vs sqlite3 .import', null, { ratio: `${fmt(rate(s) / rate(si), 2)}x` });
  for (const [i, f] of (results.sqliteFloor ?? []).entries()) {
    const vs = s ? rate(s) / (f.rows / f.seconds) : null;
    line(
      `  better-sqlite3 INSERT alone, rows ready in memory, ${floorLabel(f)}${i === 0 ? ` (median of ${SQLITE_ROUNDS})` : ' (info)'}`,
      { rows: f.rows, wall: f.seconds },
      {
        ratio: vs === null ? '' : `dnslog ${fmt(vs, 2)}x`,
        target: i === 0 && vs !== null ? `dnslog >= ${TARGETS.sqliteFloorRatio}x: ${verdict(vs >= TARGETS.sqliteFloorRatio)}` : '',
      },
    );
  }
  if (ssh)
    line('dnslog ship ssh:// (loopback, gzip in transit) -> SQLite', ssh, {
      rss: mb(ssh),
      ratio: s ? `${fmt(rate(ssh) / rate(s), 2)}x local` : '',
      target: `>= ${fmt(TARGETS.sshRate)} rows/s: ${verdict(rate(ssh) >= TARGETS.sshRate)}`,
    });
  if (sshPlain)
    line('dnslog ship ssh:// --no-compress -> SQLite (info only)', sshPlain, {
      rss: mb(sshPlain),
      ratio: s ? `${fmt(rate(sshPlain) / rate(s), 2)}x local` : '',
    });
  for (const r of rss ?? [])
    line(`peak RSS: dnslog ship -> SQLite, ${fmt(r.lines)} lines`, r, {
      rss: mb(r),
      target: `< ${TARGETS.rssMb} MB: ${verdict(r.rssMb !== null && r.rssMb < TARGETS.rssMb)}`,
    });
  const header = ['measure', 'rows', 'seconds', 'rows/s', 'ratio', 'peak RSS MB', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = [false, true, true, true, false, true, false];
  const cell = (v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]));
  say(
    `\nsummary: ${fmt(LINES)}-line BIND 9.18 query log; the legacy pipeline ran on the first ${fmt(LEGACY_LINES)} lines only (it is that slow);`,
  );
  say('seconds are wall clock around the whole process; SSH = the test sshd on 127.0.0.1, into SQLite');
  say(header.map(cell).join(' | ').trimEnd());
  say(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) say(r.map(cell).join(' | ').trimEnd());
  if (rss && rss.length > 1) {
    // Flat: the biggest run needs at most 1.5x the memory of the smallest, however many more lines it read.
    const mbs = rss.map((r) => r.rssMb ?? 0);
    const growth = Math.max(...mbs) / Math.min(...mbs);
    const moreLines = rss[rss.length - 1].lines / rss[0].lines;
    say(
      `peak RSS ${rss.map((r) => `${fmt(r.lines)}: ${fmt(r.rssMb, 1)} MB`).join(', ')}: ${growth <= 1.5 ? 'flat' : 'NOT flat'} (${fmt(growth, 2)}x the memory for ${fmt(moreLines)}x the lines)`,
    );
  }
  say(
    `machine: ${cpus().length} CPU(s), load average ${loadStart} at the start, ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} at the end (MariaDB and dnslog share these CPUs)`,
  );
  if (errors.length > 0) say(`\n${errors.length} measurement(s) could not be made:\n${errors.map((e) => `  ${e}`).join('\n')}`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`ship-bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 2;
} finally {
  await cleanup();
}
if (errors.length > 0) process.exitCode = 2;
