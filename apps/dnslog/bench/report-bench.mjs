// Benchmark: reports and retention on a big MariaDB table (hourly partitions over 4 days).
//
//   npm run build -w dnslog && node apps/dnslog/bench/report-bench.mjs [rows=1000000] [--keep-db] [--disk=plain]
//
// --disk=plain puts the database on an ext4 mounted without `discard`, as a server's data disk
// usually is (see plain-disk.mjs; needs root); by default it lives in the test server's datadir on
// this machine's own disk. Either way it prints what freeing a written 64 MiB file costs there,
// which is most of what a DROP PARTITION costs.
//
// Needs the test MariaDB (`bash test/scripts/services.sh start`; connection from .services/env.json).
// Creates database toolbox_bench_report, makes the table with `dnslog db init` and hourly partitions
// for the last 4 days, bulk-loads `rows` synthetic queries spread evenly over those 4 days (4
// servers, 2,000 clients, 50,000 names with a skewed popularity), ANALYZEs, then times:
//   - `dnslog db rebuild-rollups` (the rows went in by LOAD DATA, not ship: the rollups are counted
//     from them once, as a migration from schema version 1 would);
//   - `top-names --since 1h` and `timeline --since 24h --per hour`: the SQL alone (median of 3), from
//     the rollups (the default) and from the rows (`--raw`), and the whole CLI run (node start-up
//     included);
//   - `dnslog prune` dropping the oldest day's 24 partitions (and that day's rollup partitions),
//     once right after the rollup rebuild (InnoDB still flushing it) and, for the next day, once
//     InnoDB has settled; against a DELETE of the third day's rows (the same number of rows, give
//     or take the random spread), in the same run.
// 20,000,000 rows (the issue's figure) take several minutes to load on a 2-core machine.
import { Buffer } from 'node:buffer';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { timelineQuery, topQuery } from '../dist/report/report.js';
import { INNODB_DIRTY_SQL, innodbCounts, waitForInnodbFlush } from './innodb-flush.mjs';
import { bindMount, fileFreeMs, mountOptions, mountPlainDisk, unmountPlainDisk } from './plain-disk.mjs';
import { mulberry32 } from './prng.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const DNSLOG = join(here, '..', 'bin', 'dnslog.js');
const ROWS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const KEEP_DB = process.argv.includes('--keep-db');
const DISK = process.argv.find((a) => a.startsWith('--disk='))?.slice('--disk='.length) ?? 'vm';
if (DISK !== 'vm' && DISK !== 'plain') throw new Error(`--disk=${DISK}: expected vm or plain`);
const env = JSON.parse(readFileSync(join(root, '.services', 'env.json'), 'utf8'));
const m = env.mariadb;
const DB = 'toolbox_bench_report';
const URL = `mysql://${m.user}@${m.host}:${m.port}/${DB}?option-file=${m.clientCnf}`;
const run = promisify(execFile);

const rand = mulberry32(0x2545f491);
const pad = (n, w = 2) => String(n).padStart(w, '0');
// Stored times are UTC (schema 5), and so are partition bounds and names.
const wall = (d) => d.toISOString().slice(0, 23).replace('T', ' ');
const pname = (d) => `p${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
const NAMES = Array.from(
  { length: 50_000 },
  (_, i) => [`host${i}.example.com`, `www.site${i}.example.net`, `_dmarc.d${i}.example.org`, `cdn-${i}.static.example.co.uk`][i % 4],
);
const CLIENTS = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}`);
const TYPES = ['A', 'A', 'A', 'AAAA', 'AAAA', 'MX', 'TXT', 'HTTPS', 'PTR', 'NS'];
const SERVERS = ['ns1', 'ns2', 'ns3', 'ns4'];

const password = readFileSync(m.passwordFile, 'utf8').trim();
const admin = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password, dateStrings: true });
const [[{ datadir }]] = await admin.query('SELECT @@datadir AS datadir');
const dbDir = join(datadir, DB);
const PLAIN_DIR = join(root, '.services', 'bench-disk');
const SERVER_PID = m.pid; // mounts for the server are made in its mount namespace
/** Drops the bench database, and with it the plain disk an earlier or this run mounted for it. */
async function dropBenchDb() {
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  } catch (err) {
    // The tables are gone; its directory is a mount point (--disk=plain), removed below.
    if (err.errno !== 1010) throw err;
  }
  if (unmountPlainDisk(PLAIN_DIR, [dbDir], SERVER_PID)) await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
}
await dropBenchDb();
await admin.query(`CREATE DATABASE ${DB}`);
let plain = null;
if (DISK === 'plain') {
  // About 330 bytes a row with the indexes and rollups, and room to spare.
  plain = mountPlainDisk(PLAIN_DIR, Math.max(8, Math.ceil((ROWS * 600) / 2 ** 30)), SERVER_PID);
  // The server's (empty) database directory gets the new filesystem's directory mounted over it.
  mkdirSync(join(PLAIN_DIR, DB));
  copyFileSync(join(dbDir, 'db.opt'), join(PLAIN_DIR, DB, 'db.opt'));
  bindMount(join(PLAIN_DIR, DB), dbDir, SERVER_PID);
}
const freeCost = (dir) => {
  try {
    return `${fileFreeMs(dir).toFixed(1)} ms`;
  } catch (err) {
    return `not measured (${String(err.message).split('\n')[0]})`;
  }
};
console.log(
  `database on ${plain ? `${PLAIN_DIR} (ext4 on ${plain.dev}, mounted ${plain.options})` : `${datadir} (mounted ${mountOptions(datadir)})`}; ` +
    `freeing a written 64 MiB file there: ${freeCost(plain ? PLAIN_DIR : datadir)}` +
    (plain ? `; on the datadir's own disk (mounted ${mountOptions(datadir)}): ${freeCost(datadir)}` : ''),
);
await admin.query(`USE ${DB}`);
const dnslog = (args) => run(process.execPath, [DNSLOG, ...args], { maxBuffer: 64 << 20 });

await dnslog(['db', 'init', '--db', URL]);
// Hourly partitions from 4 days ago: drop db init's (empty) daily ones, split p_start and p_future.
const now = new Date();
const start = new Date(now.getTime() - 4 * 86_400_000);
start.setMinutes(0, 0, 0);
const [parts] = await admin.query(
  "SELECT PARTITION_NAME AS n, PARTITION_DESCRIPTION AS d FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dns_queries' ORDER BY PARTITION_ORDINAL_POSITION",
  [DB],
);
for (const p of parts) if (p.n.startsWith('p2')) await admin.query(`ALTER TABLE dns_queries DROP PARTITION ${p.n}`);
const pStartBound = new Date(String(parts[0].d).replace(/'/g, '').replace(' ', 'T'));
const split = [`PARTITION p_start VALUES LESS THAN ('${wall(start).slice(0, 19)}')`];
for (let t = start.getTime(); t < pStartBound.getTime(); t += 3_600_000) {
  const s = new Date(t);
  split.push(`PARTITION ${pname(s)} VALUES LESS THAN ('${wall(new Date(t + 3_600_000)).slice(0, 19)}')`);
}
// The rollup tables get the same layout (dnslog keeps them in step; this bench re-lays by hand).
for (const table of ['dns_queries', 'dns_rollup_minute', 'dns_rollup_names', 'dns_rollup_clients']) {
  if (table !== 'dns_queries')
    for (const p of parts) if (p.n.startsWith('p2')) await admin.query(`ALTER TABLE ${table} DROP PARTITION ${p.n}`);
  await admin.query(`ALTER TABLE ${table} REORGANIZE PARTITION p_start INTO (${split.join(', ')})`);
}
await dnslog(['partitions', '--db', URL, '--granularity', 'hour', '--ahead', '3h', '--lock', join(here, '.bench.lock')]);

// Load: rows in time order, streamed through LOAD DATA LOCAL INFILE.
const span = now.getTime() - start.getTime() - 60_000;
function* tsv() {
  let buf = '';
  for (let i = 0; i < ROWS; i++) {
    const t = new Date(start.getTime() + Math.floor((i / ROWS) * span));
    const name = NAMES[Math.floor(NAMES.length * rand() ** 3)];
    const rev = [...name].reverse().join('');
    buf += `${wall(t)}\t${SERVERS[i % 4]}\t${CLIENTS[Math.floor(rand() * CLIENTS.length)]}\t${name}\t${rev}\tIN\t${TYPES[Math.floor(rand() * TYPES.length)]}\t+E(0)K\t1\t0\t0\t0\t0\t1\t${i + 1}\n`;
    if (buf.length > 1 << 20) {
      yield Buffer.from(buf);
      buf = '';
    }
  }
  if (buf) yield Buffer.from(buf);
}
const loader = await mysql.createConnection({
  host: m.host,
  port: m.port,
  user: m.user,
  password,
  database: DB,
  infileStreamFactory: () => Readable.from(tsv()),
});
let t0 = performance.now();
await loader.query(
  "LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE dns_queries FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no)",
);
const loadS = (performance.now() - t0) / 1000;
await loader.end();
await admin.query('ANALYZE TABLE dns_queries');
const [[size]] = await admin.query(
  "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes, COUNT(*) AS parts FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dns_queries'",
  [DB],
);
console.log(
  `loaded ${ROWS} rows over 4 days in ${loadS.toFixed(1)} s (${Math.round(ROWS / loadS)} rows/s); ${size.parts} partitions, ${(Number(size.bytes) / 2 ** 20).toFixed(0)} MiB`,
);

t0 = performance.now();
await dnslog(['db', 'rebuild-rollups', '--db', URL, '--lock', join(here, '.bench.lock')]);
const rebuildS = (performance.now() - t0) / 1000;
const [[ru]] = await admin.query(
  'SELECT (SELECT COUNT(*) FROM dns_rollup_minute) AS m, (SELECT COUNT(*) FROM dns_rollup_names) AS n, (SELECT COUNT(*) FROM dns_rollup_clients) AS c',
);
console.log(`rollups rebuilt from the rows in ${rebuildS.toFixed(1)} s: ${ru.m} minute/type, ${ru.n} hour/name, ${ru.c} hour/client rows`);

async function sqlMedian(q) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await admin.query(q.sql, q.params);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[1];
}
async function cli(args) {
  const t = performance.now();
  await dnslog(args);
  return performance.now() - t;
}
const since1h = wall(new Date(Date.now() - 3_600_000));
const since24h = wall(new Date(Date.now() - 86_400_000));
const topSql = await sqlMedian(topQuery('qname', { since: since1h }, 20, 'mysql', true));
const topRaw = await sqlMedian(topQuery('qname', { since: since1h }, 20, 'mysql', false));
const topCli = await cli(['report', 'top-names', '--since', '1h', '--db', URL]);
const tlSql = await sqlMedian(timelineQuery({ since: since24h }, 'hour', 'mysql', true));
const tlRaw = await sqlMedian(timelineQuery({ since: since24h }, 'hour', 'mysql', false));
const tlCli = await cli(['report', 'timeline', '--since', '24h', '--per', 'hour', '--db', URL]);
const node = await cli(['--version']);
const x = (a, b) => `${(a / b).toFixed(1)}x`;
console.log(
  `top-names --since 1h            SQL from the rows ${topRaw.toFixed(0)} ms (what the CLI reads for a range this short; via the rollups: ${topSql.toFixed(0)} ms)   CLI ${topCli.toFixed(0)} ms`,
);
console.log(
  `timeline --since 24h --per hour SQL ${tlSql.toFixed(0)} ms (rows alone: ${tlRaw.toFixed(0)} ms, ${x(tlRaw, tlSql)})   CLI ${tlCli.toFixed(0)} ms`,
);
console.log(`(node start-up alone, dnslog --version: ${node.toFixed(0)} ms)`);

// Retention: the oldest whole day as 24 partitions, dropped by `dnslog prune` (the whole CLI run,
// node start-up included), rows and rollups; then the next day; the third day DELETEd, in the same run.
const day1 = new Date(start.getTime());
day1.setUTCHours(24, 0, 0, 0);
const day2 = new Date(day1.getTime() + 86_400_000);
const day3 = new Date(day2.getTime() + 86_400_000);
// A day's rows, counted from the minute rollup (equal to the rows, as the tests check): a COUNT(*)
// of the rows would pull the day into the buffer pool just before it is dropped, which a prune of
// old data never finds.
const count = async (a, b) =>
  Number(
    (
      await admin.query('SELECT COALESCE(SUM(queries), 0) AS n FROM dns_rollup_minute WHERE bucket >= ? AND bucket < ?', [
        wall(a).slice(0, 19),
        wall(b).slice(0, 19),
      ])
    )[0][0].n,
  );
// The whole `dnslog prune` CLI run (node start-up, lock, the checks, the drops), with a --keep that
// puts the cutoff half an hour into the day `until` starts, so that exactly the partitions before it go.
async function prune(until) {
  const keepMin = Math.floor((Date.now() - until.getTime() - 30 * 60_000) / 60_000);
  const t = performance.now();
  const { stdout } = await dnslog(['prune', '--db', URL, '--keep', `${keepMin}m`, '--json', '--lock', join(here, '.bench.lock')]);
  const ms = performance.now() - t;
  const res = JSON.parse(stdout);
  return { ms, dropped: res.actions.filter((a) => a.action === 'drop' && a.done).length };
}
// Waits until InnoDB's page cleaner has written out what the load, the rollup rebuild or a DELETE
// left dirty (a DROP frees its files on the same disk the cleaner writes to), at most 120 s.
const settle = () =>
  waitForInnodbFlush(async () => innodbCounts((await admin.query(INNODB_DIRTY_SQL))[0].map((r) => [r.Variable_name, r.Value])), {
    fraction: 0.01,
    maxSeconds: 120,
  });
const dirtyNow = async () => Number((await admin.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'"))[0][0].Value);
// First the partial day before day 1 (untimed), so that each timed prune is exactly one day.
await prune(day1);
// Day 1 right away: the page cleaner is still writing out the rollup rebuild.
const rowsDay1 = await count(day1, day2);
const dirty1 = await dirtyNow();
const busy = await prune(day2);
// Day 2 once InnoDB has settled, as a nightly prune usually finds it.
const waited = await settle();
const rowsDay2 = await count(day2, day3);
const settled = await prune(day3);
// Day 3: the DELETE a prune replaces.
const day4 = new Date(day3.getTime() + 86_400_000);
const rowsDay3 = await count(day3, day4);
t0 = performance.now();
await admin.query('DELETE FROM dns_queries WHERE qtime >= ? AND qtime < ?', [wall(day3), wall(day4)]);
const deleteMs = performance.now() - t0;
const [[partSize]] = await admin.query(
  "SELECT COUNT(*) AS n FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dns_queries'",
  [DB],
);
console.log(
  `dnslog prune of one day, the whole CLI run (${busy.dropped} partitions of rows, ${rowsDay1} rows, and that day's rollup partitions, each table on its own connection):`,
);
console.log(`  right after the rollup rebuild (${dirty1} buffer-pool pages dirty, the page cleaner writing): ${busy.ms.toFixed(0)} ms`);
console.log(
  `  the next day (${rowsDay2} rows), InnoDB settled (waited ${waited.seconds.toFixed(0)} s; ${waited.dirty} of ${waited.total} pages dirty): ${settled.ms.toFixed(0)} ms`,
);
console.log(
  `DELETE of the third day's ${rowsDay3} rows: ${deleteMs.toFixed(0)} ms (${(deleteMs / settled.ms).toFixed(1)}x the settled prune, ${(deleteMs / busy.ms).toFixed(1)}x the busy one); ${partSize.n} partitions left`,
);

if (!KEEP_DB) await dropBenchDb();
else if (plain) console.log(`kept ${DB} on ${PLAIN_DIR}: the next run unmounts it`);
await admin.end();
