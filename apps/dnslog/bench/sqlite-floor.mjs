// The library's own floor for ship-bench: better-sqlite3 inserting the rows of a query log that
// were parsed into memory beforehand (not timed), one prepared INSERT per row in one transaction,
// the store's pragmas, into dns_queries as `dnslog db init` makes it: once with no index at all,
// once with its four indexes. Prints a JSON array [{indexes, rows, seconds}].
//
//   node apps/dnslog/bench/sqlite-floor.mjs LOGFILE SCRATCH.sqlite
import { createReadStream, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { readLineBatches } from '../dist/line-reader.js';
import { lineParserFor } from '../dist/parse-adapter.js';
import { QUERY_COLUMNS, rowValues } from '../dist/row.js';
import { sqliteSchema } from '../dist/schema.js';

const [logFile, scratch] = process.argv.slice(2);
if (!logFile || !scratch) {
  process.stderr.write('usage: sqlite-floor.mjs LOGFILE SCRATCH.sqlite\n');
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
for (const indexes of [false, true]) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
  const db = new Database(scratch);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -32768');
  for (const stmt of sqliteSchema()) if (indexes || !/^\s*CREATE INDEX/i.test(stmt)) db.exec(stmt);
  const insert = db.prepare(`INSERT INTO dns_queries (${QUERY_COLUMNS.join(', ')}) VALUES (${QUERY_COLUMNS.map(() => '?').join(', ')})`);
  const t = performance.now();
  db.exec('BEGIN');
  for (const v of values) insert.run(v);
  db.exec('COMMIT');
  out.push({ indexes, rows: values.length, seconds: (performance.now() - t) / 1000 });
  db.close();
}
for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
process.stdout.write(`${JSON.stringify(out)}\n`);
