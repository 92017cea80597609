// The library's own floor for ship-bench: better-sqlite3 inserting the rows of a query log that
// were parsed into memory beforehand (not timed), one prepared INSERT per row in one transaction,
// on a connection opened as the store opens its own (sqlite-load.ts openSqlite: WAL, synchronous
// FULL, the same page cache), into dns_queries as `dnslog db init` makes it: once with no index at
// all, once with its four indexes; and, for information, with the four indexes and synchronous
// NORMAL, which skips the fsync of the commit (not durable: the store does not use it). Prints a
// JSON array [{indexes, synchronous, rows, seconds}], one per run asked for (default: all three).
//
//   node apps/dnslog/bench/sqlite-floor.mjs LOGFILE SCRATCH.sqlite [indexes-full|none-full|indexes-normal]...
import { createReadStream, rmSync, statSync } from 'node:fs';
import { readLineBatches } from '../dist/parse/line-reader.js';
import { lineParserFor } from '../dist/parse/parse-adapter.js';
import { QUERY_COLUMNS, rowValues } from '../dist/store/row.js';
import { sqliteSchema } from '../dist/store/schema.js';
import { openSqlite } from '../dist/store/sqlite/sqlite-load.js';

const RUNS = { 'indexes-full': [true, 'FULL'], 'none-full': [false, 'FULL'], 'indexes-normal': [true, 'NORMAL'] };
const [logFile, scratch, ...asked] = process.argv.slice(2);
if (!logFile || !scratch || asked.some((a) => !(a in RUNS))) {
  process.stderr.write(`usage: sqlite-floor.mjs LOGFILE SCRATCH.sqlite [${Object.keys(RUNS).join('|')}]...\n`);
  process.exit(2);
}
const parse = lineParserFor({ mtimeMs: statSync(logFile).mtimeMs });
const values = [];
for await (const batch of readLineBatches(createReadStream(logFile, { highWaterMark: 64 << 10 }))) {
  for (const raw of batch) {
    const p = parse(raw);
    if (p.kind === 'row') values.push(rowValues(p.row, 'floor', 1, p.lineNo));
  }
}

const out = [];
for (const [indexes, synchronous] of (asked.length > 0 ? asked : ['none-full', 'indexes-full', 'indexes-normal']).map((a) => RUNS[a])) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
  const db = openSqlite(scratch);
  db.pragma(`synchronous = ${synchronous}`);
  for (const stmt of sqliteSchema()) if (indexes || !/^\s*CREATE INDEX/i.test(stmt)) db.exec(stmt);
  const insert = db.prepare(`INSERT INTO dns_queries (${QUERY_COLUMNS.join(', ')}) VALUES (${QUERY_COLUMNS.map(() => '?').join(', ')})`);
  const t = performance.now();
  db.exec('BEGIN');
  for (const v of values) insert.run(v);
  db.exec('COMMIT');
  out.push({ indexes, synchronous, rows: values.length, seconds: (performance.now() - t) / 1000 });
  db.close();
}
for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
process.stdout.write(`${JSON.stringify(out)}\n`);
