import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './db-sqlite.js';
import { SCHEMA_VERSION } from '../schema.js';
import { sampleRow } from '../../testing/sample-row.js';
import type { ParsedLine } from '../store.js';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-sqlite-'));
  store = new SqliteStore(join(dir, 'db.sqlite'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The lines in batches of two, as a ship hands them over. */
async function* items(list: ParsedLine[]): AsyncGenerator<ParsedLine[]> {
  for (let i = 0; i < list.length; i += 2) yield list.slice(i, i + 2);
}

const meta = { server: 'ns1', path: '/var/log/named/query.log.1', size: 123, sha256: 'a'.repeat(64) };

// The store writes a file's rows in a worker thread, whose compiled file exists only in dist/ (built
// before the tests run); from its TypeScript source it writes on the caller's thread. Both are tested.
const compiled = (await import(new URL('../../../dist/store/sqlite/db-sqlite.js', import.meta.url).href)) as { SqliteStore: unknown };
const WRITERS = [
  ['in a worker thread (the compiled store)', compiled.SqliteStore as typeof SqliteStore],
  ["on the caller's thread (the store from source)", SqliteStore],
] as const;

describe.each(WRITERS)('SqliteStore, writing %s', (_how, Store) => {
  beforeEach(async () => {
    await store.close();
    store = new Store(join(dir, 'db.sqlite'));
  });

  it('creates the schema once and records its version', async () => {
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: true });
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: false });
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual([
      'dns_queries',
      'dns_rollup_clients',
      'dns_rollup_minute',
      'dns_rollup_names',
      'dnslog_files',
      'dnslog_meta',
      'dnslog_rejects',
    ]);
  });

  it('loads rows, rejects and the ledger entry together', async () => {
    await store.init();
    const hostile = 'a\\"b\'c\\032d\\\\e.example';
    const junk = String.fromCharCode(0, 255, 10, 200);
    const load = await store.loadFile(
      meta,
      items([
        { kind: 'row', lineNo: 1, row: sampleRow({ time: '2026-11-25 09:00:00.500' }) },
        { kind: 'reject', lineNo: 2, reason: 'binary', line: junk },
        { kind: 'row', lineNo: 3, row: sampleRow({ qname: hostile, time: '2026-11-25 08:59:59.001', clientIp: '2001:db8::1' }) },
      ]),
    );
    expect(load).toMatchObject({
      rows: 2,
      rejects: 1,
      rejectsByReason: { binary: 1 },
      firstTime: '2026-11-25 08:59:59.001',
      lastTime: '2026-11-25 09:00:00.500',
    });
    const rows = store.db.prepare('SELECT qname, client_ip, line_no, file_id FROM dns_queries ORDER BY line_no').all();
    expect(rows).toEqual([
      { qname: 'example.test', client_ip: '127.0.0.1', line_no: 1, file_id: load.fileId },
      { qname: hostile, client_ip: '2001:db8::1', line_no: 3, file_id: load.fileId },
    ]);
    const rej = store.db.prepare('SELECT line_no, reason, line FROM dnslog_rejects').get() as { line: Buffer };
    expect(rej).toMatchObject({ line_no: 2, reason: 'binary' });
    expect(rej.line).toEqual(Buffer.from([0, 255, 10, 200]));
    expect(await store.findShipped('ns1', meta.sha256)).toMatchObject({ id: load.fileId, rows: 2, rejects: 1, path: meta.path });
    expect(await store.findShipped('ns2', meta.sha256)).toBeNull();
  });

  it("keeps a rejected line's true length: an over-long line's own, else the line's (regression: pieces of one line collided on the key)", async () => {
    await store.init();
    const load = await store.loadFile(
      meta,
      items([
        { kind: 'reject', lineNo: 1, reason: 'too_long', line: 'x'.repeat(16), bytes: 3 * 1024 * 1024 },
        { kind: 'reject', lineNo: 2, reason: 'truncated', line: 'client 10.0.0.1#5: query: a IN A +' },
        { kind: 'row', lineNo: 3, row: sampleRow() },
      ]),
    );
    expect(load).toMatchObject({ rows: 1, rejects: 2, rejectsByReason: { too_long: 1, truncated: 1 } });
    expect(store.db.prepare('SELECT line_no, reason, length(line) AS kept, line_bytes FROM dnslog_rejects ORDER BY line_no').all()).toEqual(
      [
        { line_no: 1, reason: 'too_long', kept: 16, line_bytes: 3 * 1024 * 1024 },
        { line_no: 2, reason: 'truncated', kept: 34, line_bytes: 34 },
      ],
    );
  });

  it('migrates a version-2 database: adds line_bytes (NULL for the rejects already there), once', async () => {
    await store.init();
    // What a version-2 database looked like: no line_bytes.
    store.db.exec('ALTER TABLE dnslog_rejects DROP COLUMN line_bytes');
    store.db.exec("UPDATE dnslog_meta SET value = '2' WHERE key = 'schema_version'");
    store.db.prepare("INSERT INTO dnslog_rejects (file_id, line_no, reason, line) VALUES (9, 1, 'binary', x'00ff')").run();
    expect(await store.schemaVersion()).toBe(2);
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: false });
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: false });
    expect(store.db.prepare('SELECT file_id, line_bytes FROM dnslog_rejects').all()).toEqual([{ file_id: 9, line_bytes: null }]);
    await store.loadFile(meta, items([{ kind: 'reject', lineNo: 1, reason: 'too_long', line: 'y', bytes: 99 }]));
    expect(store.db.prepare('SELECT line_bytes FROM dnslog_rejects WHERE file_id <> 9').pluck().all()).toEqual([99]);
  });

  it('rolls everything back when the stream fails midway', async () => {
    await store.init();
    async function* failing(): AsyncGenerator<ParsedLine[]> {
      yield [{ kind: 'row', lineNo: 1, row: sampleRow() }];
      throw new Error('connection dropped');
    }
    await expect(store.loadFile(meta, failing())).rejects.toThrow('connection dropped');
    expect(store.db.prepare('SELECT COUNT(*) FROM dns_queries').pluck().get()).toBe(0);
    expect(await store.findShipped('ns1', meta.sha256)).toBeNull();
    // and the same file loads afterwards
    expect((await store.loadFile(meta, items([{ kind: 'row', lineNo: 1, row: sampleRow() }]))).rows).toBe(1);
  });

  it('refuses a second entry for the same server and content', async () => {
    await store.init();
    await store.loadFile(meta, items([]));
    await expect(store.loadFile(meta, items([]))).rejects.toThrow(/UNIQUE/);
  });

  it('commits a long file in parts of chunkLines lines with its progress; a run stopped between parts goes on after the last one, every line once', async () => {
    await store.close();
    store = new Store(join(dir, 'db.sqlite'), { chunkLines: 4 });
    await store.init();
    const lines: ParsedLine[] = Array.from(
      { length: 11 },
      (_, i) => ({ kind: 'row', lineNo: i + 1, row: sampleRow({ time: `2026-11-25 09:00:${String(i).padStart(2, '0')}.000` }) }) as const,
    );
    lines[5] = { kind: 'reject', lineNo: 6, reason: 'binary', line: 'x' };
    async function* stopsAfter(n: number): AsyncGenerator<ParsedLine[]> {
      yield* items(lines.slice(0, n));
      throw new Error('killed');
    }
    // Batches of two: parts end after lines 4 and 8; the stop after line 9 loses only line 9.
    await expect(store.loadFile(meta, stopsAfter(9))).rejects.toThrow('killed');
    const entry = () =>
      store.db
        .prepare(
          'SELECT id, rows_loaded AS rows, rejects, done_lines AS doneLines, first_time AS firstTime, last_time AS lastTime FROM dnslog_files',
        )
        .get() as Record<string, unknown>;
    expect(entry()).toMatchObject({
      rows: 7,
      rejects: 1,
      doneLines: 8,
      firstTime: '2026-11-25 09:00:00.000',
      lastTime: '2026-11-25 09:00:07.000',
    });
    expect(store.db.prepare('SELECT line_no FROM dns_queries ORDER BY line_no').pluck().all()).toEqual([1, 2, 3, 4, 5, 7, 8]);
    const shipped = await store.findShipped('ns1', meta.sha256);
    expect(shipped).toMatchObject({ doneLines: 8, rows: 7, rejects: 1 });

    const e = entry();
    const rest = await store.loadFile(meta, items(lines.slice(8)), {
      fileId: Number(e.id),
      doneLines: 8,
      rows: 7,
      rejects: 1,
      firstTime: String(e.firstTime),
      lastTime: String(e.lastTime),
    });
    expect(rest).toMatchObject({ rows: 10, rejects: 1, firstTime: '2026-11-25 09:00:00.000', lastTime: '2026-11-25 09:00:10.000' });
    expect(entry()).toMatchObject({ rows: 10, rejects: 1, doneLines: null });
    expect(store.db.prepare('SELECT line_no FROM dns_queries ORDER BY line_no').pluck().all()).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    expect(store.db.prepare('SELECT SUM(queries) FROM dns_rollup_minute').pluck().get()).toBe(10);
    expect((await store.findShipped('ns1', meta.sha256))?.doneLines).toBeNull();
  });

  it('keeps nothing of a file whose statement fails midway, inserts none of the batches sent after it, and loads the next file', async () => {
    await store.init();
    const lines: ParsedLine[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'row', lineNo: i + 1, row: sampleRow() }) as const);
    // Two rejects with one line number, in one batch: dnslog_rejects' key refuses the second.
    lines.splice(
      10,
      0,
      { kind: 'reject', lineNo: 5, reason: 'binary', line: 'x' },
      { kind: 'reject', lineNo: 5, reason: 'binary', line: 'y' },
    );
    await expect(store.loadFile(meta, items(lines))).rejects.toThrow(/UNIQUE constraint failed: dnslog_rejects/);
    const count = (table: string): unknown => store.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get();
    expect([count('dns_queries'), count('dnslog_rejects'), count('dnslog_files'), count('dns_rollup_minute')]).toEqual([0, 0, 0, 0]);
    const next = await store.loadFile({ ...meta, sha256: 'b'.repeat(64) }, items(lines.slice(0, 3)));
    expect(next.rows).toBe(3);
    expect(count('dns_queries')).toBe(3);
  });
});

describe('SqliteStore durability', () => {
  it('commits a file with synchronous=FULL: a WAL commit under NORMAL can vanish on power loss after the move', async () => {
    await store.init();
    const seen: unknown[] = [];
    const exec = store.db.exec.bind(store.db);
    store.db.exec = (sql: string) => {
      if (sql === 'COMMIT') seen.push(store.db.pragma('synchronous', { simple: true }));
      return exec(sql);
    };
    await store.loadFile(meta, items([{ kind: 'row', lineNo: 1, row: sampleRow() }]));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    // 2 is FULL (1 is NORMAL): the WAL is fsynced before COMMIT returns.
    expect(seen).toEqual([2]);
  });
});

describe('SqliteStore rollup flushes (query floods)', () => {
  /** Rows over three hours, names mostly distinct, a few repeated in other spellings. */
  function flood(n: number): ParsedLine[] {
    const out: ParsedLine[] = [];
    for (let i = 0; i < n; i++) {
      const hour = String(9 + Math.floor((i * 3) / n)).padStart(2, '0');
      const qname = i % 5 === 0 ? 'Repeat.Example' : `r${i}.example`;
      const row = sampleRow({
        time: `2026-11-25 ${hour}:${String(i % 60).padStart(2, '0')}:00.000`,
        qname,
        clientIp: `192.0.2.${i % 7}`,
        qtype: i % 2 ? 'A' : 'AAAA',
      });
      out.push({ kind: 'row', lineNo: i + 1, row });
    }
    return out;
  }

  const rollups = (s: SqliteStore) =>
    Object.fromEntries(
      ['dns_rollup_minute', 'dns_rollup_names', 'dns_rollup_clients'].map((t) => [
        t,
        s.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2, 3`).all(),
      ]),
    );

  it('adds rollups to the tables while the file streams, inside its transaction, and several flushes give the rows of one', async () => {
    await store.init();
    const lines = flood(300);
    await store.loadFile(meta, items(lines));
    const once = rollups(store);

    const other = new SqliteStore(join(dir, 'flushed.sqlite'), { rollupFlushKeys: 7 });
    try {
      await other.init();
      const midway: number[] = [];
      async function* watched(): AsyncGenerator<ParsedLine[]> {
        for await (const b of items(lines)) {
          yield b;
          midway.push(Number(other.db.prepare('SELECT COUNT(*) FROM dns_rollup_names').pluck().get()));
        }
      }
      const load = await other.loadFile(meta, watched());
      expect(load.rows).toBe(300);
      // Counted before the end of the file: the accumulator was emptied into the tables along the way.
      expect(midway[10]).toBeGreaterThan(0);
      expect(rollups(other)).toEqual(once);
      // and a recount from the rows agrees
      await other.rebuildRollups();
      expect(rollups(other)).toEqual(once);
      // A failed load takes its flushed counts with it.
      async function* failing(): AsyncGenerator<ParsedLine[]> {
        yield* items(flood(50));
        throw new Error('cut');
      }
      await expect(other.loadFile({ ...meta, sha256: 'b'.repeat(64) }, failing())).rejects.toThrow('cut');
      expect(rollups(other)).toEqual(once);
    } finally {
      await other.close();
    }
  });
});
