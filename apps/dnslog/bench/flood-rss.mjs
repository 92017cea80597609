// Benchmark: peak RSS of `dnslog ship` on a query flood — a random-subdomain attack, where every
// query name in the file is distinct — beside an ordinary log of the same length class:
//
//   npx turbo run build --filter=dnslog
//   node apps/dnslog/bench/flood-rss.mjs [--lines N] [--ordinary-lines N] [--stores sqlite,mariadb] [--keep-temp]
//
//   0. writes a flood log of N lines (--lines, default 5,000,000), every name distinct
//      (`<random>.victim.example`, about 3,000 resolvers as clients, ~1,400 queries/s), and an
//      ordinary log (--ordinary-lines, default 1,000,000; ship-generate.mjs) to a temp dir
//   1. runs `node apps/dnslog/bin/dnslog.js ship FILE --db … --keep --json` under /usr/bin/time -v
//      for each log into SQLite (fresh file) and MariaDB (fresh database toolbox_bench_flood)
//   2. prints peak RSS (Maximum resident set size), wall time and rows per run, against the target:
//      under 300 MB for the flood (rollups are flushed in batches inside the file's transaction)
//
// Needs the real services for MariaDB (bash test/scripts/services.sh start); without them only
// SQLite is measured. A missed target is reported, never an exit code (exit 2 only when a
// measurement could not be made). The temp dir and the database are removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mulberry32 } from './prng.mjs';
import { LOG_NAME, writeLogs } from './ship-generate.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const APP = resolve(HERE, '..');
const REPO = resolve(APP, '../..');
const DNSLOG = join(APP, 'bin', 'dnslog.js');
const SERVICES_DIR = process.env.TOOLBOX_SERVICES_DIR ? resolve(process.env.TOOLBOX_SERVICES_DIR) : join(REPO, '.services');
const BENCH_DB = 'toolbox_bench_flood';
const TARGET_MB = 300;

const { values: opts } = parseArgs({
  options: {
    lines: { type: 'string', default: '5000000' },
    'ordinary-lines': { type: 'string', default: '1000000' },
    stores: { type: 'string', default: 'sqlite,mariadb' },
    'keep-temp': { type: 'boolean', default: false },
  },
});
const LINES = Number(opts.lines);
const ORDINARY = Number(opts['ordinary-lines']);
const STORES = opts.stores.split(',');

const say = (s) => process.stdout.write(`${s}\n`);
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// Deterministic: every run writes the same flood.
const rand = mulberry32(0x0f100d);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n) => String(n).padStart(2, '0');

/** A random-subdomain flood in BIND 9.18 shape: each line's name is new (a counter in base 36 and random letters). */
function writeFlood(path, lines) {
  const fd = openSync(path, 'w');
  const resolvers = Array.from({ length: 3000 }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}`);
  let ms = Date.UTC(2026, 10, 25, 3, 0, 0, 0);
  let chunk = '';
  for (let i = 0; i < lines; i++) {
    ms += Math.floor(rand() * 1.4); // ~1,400 queries/s: 5M lines span about an hour
    const d = new Date(ms);
    const time = `${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${String(ms % 1000).padStart(3, '0')}`;
    const client = resolvers[Math.floor(rand() * resolvers.length)];
    const name = `${i.toString(36)}${Math.floor(rand() * 2 ** 31).toString(36)}.victim.example`;
    chunk += `${time} queries: info: client @0x7f3729afc098 ${client}#${1024 + Math.floor(rand() * 64000)} (${name}): query: ${name} IN A -E(0) (192.0.2.53)\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = '';
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}

function run(argv, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `dnslog ship FILE --db URL --keep --json` under /usr/bin/time -v: peak RSS, wall seconds, rows. */
async function ship(file, dbUrl, label) {
  const t0 = performance.now();
  const r = await run([
    '/usr/bin/time',
    '-v',
    process.execPath,
    DNSLOG,
    'ship',
    file,
    '--db',
    dbUrl,
    '--server',
    label,
    '--keep',
    '--json',
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  if (r.code !== 0 || !Number.isFinite(kb))
    throw new Error(`${label}: dnslog ship exited ${r.code}: ${r.stderr.trim().split('\n').slice(0, 5).join(' | ')}`);
  const report = JSON.parse(r.stdout);
  return { mb: kb / 1024, seconds, rows: report.totals.rows };
}

async function main() {
  if (!existsSync(join(APP, 'dist', 'cli.js'))) {
    process.stderr.write('flood-rss: apps/dnslog/dist is missing: build first (npx turbo run build --filter=dnslog)\n');
    process.exitCode = 2;
    return;
  }
  if (!existsSync('/usr/bin/time')) {
    process.stderr.write('flood-rss: /usr/bin/time is missing (apt-get install time)\n');
    process.exitCode = 2;
    return;
  }
  let mariadb = null;
  const envFile = join(SERVICES_DIR, 'env.json');
  if (STORES.includes('mariadb')) {
    if (existsSync(envFile)) mariadb = JSON.parse(readFileSync(envFile, 'utf8')).mariadb;
    else say(`no ${envFile}: MariaDB skipped (start it with bash test/scripts/services.sh start)`);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'flood-rss-'));
  const mysqlCli = (sql) =>
    spawnSync('mysql', [`--defaults-extra-file=${mariadb.clientCnf}`, '-h', mariadb.host, '-P', String(mariadb.port), '-e', sql], {
      encoding: 'utf8',
    });
  try {
    const flood = join(tmp, 'flood', LOG_NAME);
    const ordinary = join(tmp, 'ordinary', LOG_NAME);
    mkdirSync(dirname(flood));
    mkdirSync(dirname(ordinary));
    let t0 = performance.now();
    writeFlood(flood, LINES);
    writeLogs([{ lines: ORDINARY, path: ordinary }]);
    // Rotated an hour ago: old enough for ship's --min-age.
    const anHourAgo = new Date(Date.now() - 3_600_000);
    for (const f of [flood, ordinary]) utimesSync(f, anHourAgo, anHourAgo);
    say(
      `generated a flood of ${fmt(LINES)} lines, every name distinct (${fmt(statSync(flood).size / 1e6, 1)} MB), and an ordinary log of ${fmt(ORDINARY)} lines (${fmt(statSync(ordinary).size / 1e6, 1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const results = [];
    for (const store of STORES) {
      for (const [kind, file, lines] of [
        ['ordinary', ordinary, ORDINARY],
        ['flood', flood, LINES],
      ]) {
        let url;
        if (store === 'sqlite') {
          const dbFile = join(tmp, `${kind}.sqlite`);
          url = `sqlite:${dbFile}`;
        } else if (store === 'mariadb' && mariadb) {
          const r = mysqlCli(`DROP DATABASE IF EXISTS ${BENCH_DB}; CREATE DATABASE ${BENCH_DB}`);
          if (r.status !== 0) throw new Error(`creating ${BENCH_DB}: ${r.stderr.trim()}`);
          const u = new URL(`mysql://${encodeURIComponent(mariadb.user)}@${mariadb.host}:${mariadb.port}/${BENCH_DB}`);
          u.searchParams.set('option-file', mariadb.clientCnf);
          url = u.href;
        } else continue;
        t0 = performance.now();
        const r = await ship(file, url, `bench-${kind}`);
        if (r.rows !== lines) throw new Error(`${store} ${kind}: shipped ${r.rows} rows of ${lines}`);
        const verdict =
          kind === 'flood' ? (r.mb < TARGET_MB ? `  (target < ${TARGET_MB} MB: met)` : `  (target < ${TARGET_MB} MB: MISSED)`) : '';
        say(
          `${store.padEnd(8)} ${kind.padEnd(9)} ${fmt(lines).padStart(10)} lines  peak RSS ${fmt(r.mb, 1).padStart(6)} MB  ${fmt(r.seconds, 1).padStart(6)} s  ${fmt(lines / r.seconds).padStart(8)} rows/s${verdict}`,
        );
        results.push({ store, kind, lines, ...r });
        if (store === 'sqlite') for (const ext of ['', '-wal', '-shm']) rmSync(url.slice('sqlite:'.length) + ext, { force: true });
      }
    }
    say(JSON.stringify({ targetMb: TARGET_MB, results }));
  } finally {
    if (mariadb) mysqlCli(`DROP DATABASE IF EXISTS ${BENCH_DB}`);
    if (opts['keep-temp']) say(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`flood-rss: ${err.message}\n`);
  process.exitCode = 2;
});
