import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './db-sqlite.js';
import { SCHEMA_VERSION } from './schema.js';
import { sampleRow } from './testing/sample-row.js';
import type { ParsedLine } from './store.js';

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

describe('SqliteStore', () => {
  it('creates the schema once and records its version', async () => {
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: true });
    expect(await store.init()).toEqual({ version: SCHEMA_VERSION, created: false });
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(['dns_queries', 'dns_rollup_clients', 'dns_rollup_minute', 'dns_rollup_names', 'dnslog_files', 'dnslog_meta', 'dnslog_rejects']);
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
    expect(load).toMatchObject({ rows: 2, rejects: 1, rejectsByReason: { binary: 1 }, firstTime: '2026-11-25 08:59:59.001', lastTime: '2026-11-25 09:00:00.500' });
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
});
