import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdOpen } from '@toolbox/shared/testing';
import { SqliteStore } from '../store/sqlite/db-sqlite.js';
import { lineParserFor } from '../parse/parse-adapter.js';
import { UserError } from '@toolbox/shared';
import { LOAD_ATTEMPTS, ship, type ShipOptions } from './ship.js';
import type { Store } from '../store/store.js';
import { isRotatedName, localSource } from './sources.js';

let dir: string;
let logs: string;
let store: SqliteStore;

const line = (i: number, name = `host${i}.example.test`) =>
  `25-Nov-2026 09:38:${String(i % 60).padStart(2, '0')}.348 queries: info: client @0x7f3729afc098 127.0.0.${1 + (i % 3)}#5482${i % 10} (${name}): query: ${name} IN A +E(0)K (127.0.0.1)`;

const opts: ShipOptions = { moveTo: 'old', concurrency: 2, dryRun: false };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-ship-'));
  logs = join(dir, 'logs');
  mkdirSync(logs);
  store = new SqliteStore(join(dir, 'db.sqlite'));
  await store.init();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = (sql: string) => store.db.prepare(sql).pluck().get() as number;

describe('isRotatedName', () => {
  it('knows rotated names from the live log', () => {
    for (const n of ['query.log.0', 'query.log.20261125093000', 'query.log.3.gz', 'query.log-20261125'])
      expect(isRotatedName(n)).toBe(true);
    for (const n of ['query.log', 'query.log.gz', 'query.log.old', 'named.conf']) expect(isRotatedName(n)).toBe(false);
  });
});

describe('ship from local files into SQLite', () => {
  it('loads every rotated file once, keeps rejects, moves files only after commit, never ships the live log', async () => {
    writeFileSync(join(logs, 'query.log'), `${line(0)}\n`);
    writeFileSync(join(logs, 'query.log.20261125090000'), [line(1), line(2), 'garbage that is not a query', line(3)].join('\n') + '\n');
    writeFileSync(join(logs, 'query.log.20261125080000.gz'), gzipSync(`${line(4)}\n${line(5)}\n`));
    const report = await ship(store, [localSource(join(logs, 'query.log*'), 'ns1')], lineParserFor, opts);
    expect(report.totals).toMatchObject({ files: 2, loaded: 2, failed: 0, rows: 5, rejects: 1 });
    expect(report.liveSkipped.map((s) => s.path)).toEqual([join(logs, 'query.log')]);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(5);
    expect(count("SELECT COUNT(*) FROM dns_queries WHERE server = 'ns1' AND qname = 'host4.example.test'")).toBe(1);
    expect(store.db.prepare('SELECT reason, CAST(line AS TEXT) AS line FROM dnslog_rejects').all()).toEqual([
      { reason: 'not_query', line: 'garbage that is not a query' },
    ]);
    expect(readdirSync(logs).sort()).toEqual(['old', 'query.log']);
    expect(readdirSync(join(logs, 'old')).sort()).toEqual(['query.log.20261125080000.gz', 'query.log.20261125090000']);
  });

  it('skips an already shipped file on a re-run and still moves it', async () => {
    const f = join(logs, 'query.log.1');
    writeFileSync(f, `${line(1)}\n${line(2)}\n`);
    await ship(store, [localSource(f, 'ns1')], lineParserFor, { ...opts, moveTo: null });
    expect(existsSync(f)).toBe(true);
    const again = await ship(store, [localSource(f, 'ns1')], lineParserFor, opts);
    expect(again.files.map((x) => x.status)).toEqual(['skipped']);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(2);
    expect(existsSync(join(logs, 'old', 'query.log.1'))).toBe(true);
  });

  it('does not move or record a file whose gzip is corrupt, and ships the others', async () => {
    const good = gzipSync(`${line(1)}\n`);
    writeFileSync(join(logs, 'query.log.1.gz'), good.subarray(0, good.length - 6));
    writeFileSync(join(logs, 'query.log.2'), `${line(2)}\n`);
    const report = await ship(store, [localSource(join(logs, 'query.log.*'), 'ns1')], lineParserFor, opts);
    expect(report.files.map((f) => [f.path.slice(logs.length + 1), f.status])).toEqual([
      ['query.log.1.gz', 'failed'],
      ['query.log.2', 'loaded'],
    ]);
    expect(report.files[0]?.error).toMatch(/^unexpected end of file/); // the file is named beside it, once
    expect(existsSync(join(logs, 'query.log.1.gz'))).toBe(true);
    expect(count('SELECT COUNT(*) FROM dnslog_files')).toBe(1);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(1);
  });

  it('reports a missing source and goes on with the others', async () => {
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const report = await ship(store, [localSource(join(dir, 'nope', 'query.log.*'), 'ns0'), localSource(logs, 'ns1')], lineParserFor, opts);
    expect(report.sourceFailures).toEqual([
      { server: 'ns0', spec: join(dir, 'nope', 'query.log.*'), error: expect.stringContaining('cannot list') as string },
    ]);
    expect(report.totals.loaded).toBe(1);
  });

  it('with --dry-run reads and writes nothing', async () => {
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const report = await ship(store, [localSource(logs, 'ns1')], lineParserFor, { ...opts, dryRun: true });
    expect(report.files.map((f) => f.status)).toEqual(['would-load']);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(0);
    expect(existsSync(join(logs, 'query.log.1'))).toBe(true);
  });

  it('keeps hostile names byte for byte', async () => {
    const names = [`q\\"uote'.example`, 'back\\\\slash\\009tab.example', `${'a'.repeat(63)}.`.repeat(15) + 'x'];
    writeFileSync(join(logs, 'query.log.1'), names.map((n, i) => line(i, n)).join('\n') + '\n');
    const report = await ship(store, [localSource(logs, 'ns1')], lineParserFor, opts);
    expect(report.totals.rejects).toBe(0);
    expect(store.db.prepare('SELECT qname FROM dns_queries ORDER BY line_no').pluck().all()).toEqual(names);
  });
});

describe('a load the database rolls back over a conflict with another writer (deadlock, lock wait timeout)', () => {
  /** The store, except that its first `conflicts` loads read a batch and then fail as MariaDB's deadlock does. */
  function conflicting(conflicts: number): { store: Store; loads: () => number } {
    let loads = 0;
    const wrapped: Store = Object.assign(Object.create(store) as Store, {
      async loadFile(meta: Parameters<Store['loadFile']>[0], batches: Parameters<Store['loadFile']>[1]) {
        loads++;
        if (loads <= conflicts) {
          for await (const b of batches) if (b.length > 0) break;
          throw new UserError(
            'E_RETRY',
            "deadlock against another writer on db (Deadlock found when trying to get lock); the file's transaction was rolled back",
          );
        }
        return store.loadFile(meta, batches);
      },
    });
    return { store: wrapped, loads: () => loads };
  }

  it('loads the file again from the start: its rows once, moved once', async () => {
    const f = join(logs, 'query.log.1');
    writeFileSync(f, `${[1, 2, 3].map((i) => line(i)).join('\n')}\n`);
    const c = conflicting(2);
    const report = await ship(c.store, [localSource(f, 'ns1')], lineParserFor, opts);
    expect(c.loads()).toBe(3);
    expect(report.totals).toMatchObject({ loaded: 1, failed: 0, rows: 3 });
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(3);
    expect(existsSync(join(logs, 'old', 'query.log.1'))).toBe(true);
  });

  it(`gives up after ${LOAD_ATTEMPTS} attempts with one line; the file stays for the next run`, async () => {
    const f = join(logs, 'query.log.1');
    writeFileSync(f, `${line(1)}\n`);
    const c = conflicting(LOAD_ATTEMPTS);
    const report = await ship(c.store, [localSource(f, 'ns1')], lineParserFor, opts);
    expect(c.loads()).toBe(LOAD_ATTEMPTS);
    expect(report.files.map((x) => [x.status, x.error])).toEqual([
      [
        'failed',
        `deadlock against another writer on db (Deadlock found when trying to get lock); the file's transaction was rolled back (gave up after ${LOAD_ATTEMPTS} attempts; the next run ships it)`,
      ],
    ]);
    expect(existsSync(f)).toBe(true);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(0);
  });
});

describe("trust boundary: hostile entries in the log directory (ship runs as root, the directory is bind's)", () => {
  it("refuses query.log.9 -> a secret file, a FIFO and a stranger's file with one line each, and ships the others", async () => {
    const { symlinkSync, chownSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const secret = join(dir, 'shadow');
    writeFileSync(secret, 'root:$6$secret-hash:19000:0:99999:7:::\n');
    symlinkSync(secret, join(logs, 'query.log.9'));
    execFileSync('mkfifo', [join(logs, 'query.log.8')]);
    writeFileSync(join(logs, 'query.log.7'), `${line(7)}\n`);
    chownSync(join(logs, 'query.log.7'), 65534, 65534);
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const report = await ship(store, [localSource(logs, 'ns1')], lineParserFor, opts);
    expect(report.files.map((f) => [f.path.slice(logs.length + 1), f.status, f.error])).toEqual([
      ['query.log.8', 'refused', 'refused: a FIFO'],
      ['query.log.9', 'refused', 'refused: a symbolic link (not followed)'],
      ['query.log.1', 'loaded', null],
      ['query.log.7', 'refused', `refused: owned by uid 65534, not ${process.getuid?.()} (its directory's owner; see --owner)`],
    ]);
    expect(report.totals).toMatchObject({ loaded: 1, refused: 3, failed: 0 });
    expect(count('SELECT COUNT(*) FROM dnslog_rejects')).toBe(0);
    expect(count('SELECT COUNT(*) FROM dns_queries')).toBe(1);
    expect(readdirSync(logs).sort()).toEqual(['old', 'query.log.7', 'query.log.8', 'query.log.9']);
  });

  it('with --owner ships the files of that user', async () => {
    const { chownSync } = await import('node:fs');
    writeFileSync(join(logs, 'query.log.7'), `${line(7)}\n`);
    chownSync(join(logs, 'query.log.7'), 65534, 65534);
    const report = await ship(store, [localSource(logs, 'ns1', { owner: '65534', minAgeSeconds: 0 })], lineParserFor, opts);
    expect(report.files.map((f) => f.status)).toEqual(['loaded']);
  });

  it('hashes and reads the same open file: a file swapped in after the open is never read', async () => {
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const { files } = await localSource(logs, 'ns1').list();
    const opened = await files[0]!.open();
    if (opened.kind !== 'open') throw new Error(opened.kind);
    writeFileSync(join(dir, 'evil'), 'root:$6$secret-hash:19000:0:99999:7:::\n');
    const { renameSync } = await import('node:fs');
    renameSync(join(dir, 'evil'), join(logs, 'query.log.1'));
    const chunks: Buffer[] = [];
    for await (const c of opened.log.raw()) chunks.push(c as Buffer);
    opened.log.close();
    expect(Buffer.concat(chunks).toString()).toBe(`${line(1)}\n`);
    await expect(files[0]!.moveTo('old')).rejects.toThrow(`${join(logs, 'query.log.1')} was replaced after it was read; not moved`);
  });

  it('refuses to move through a symlinked old/, and reports the file loaded with its rows plus the move error', async () => {
    const { symlinkSync } = await import('node:fs');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(logs, 'old'));
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n${line(2)}\n`);
    const report = await ship(store, [localSource(logs, 'ns1')], lineParserFor, opts);
    expect(report.files).toMatchObject([
      {
        status: 'loaded',
        rows: 2,
        movedTo: null,
        error: null,
        moveError: `${join(logs, 'old')} is a symbolic link; refusing to move files through it`,
      },
    ]);
    expect(report.totals).toMatchObject({ loaded: 1, rows: 2, failed: 0, moveFailed: 1 });
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(logs, 'query.log.1'))).toBe(true);
  });

  it('leaves a file modified less than --min-age ago for the next run', async () => {
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const { statSync } = await import('node:fs');
    const mtime = statSync(join(logs, 'query.log.1')).mtimeMs;
    const young = await ship(store, [localSource(logs, 'ns1', { minAgeSeconds: 60, now: () => mtime + 59_000 })], lineParserFor, opts);
    expect(young.files.map((f) => [f.status, f.error])).toEqual([
      ['deferred', 'modified 59s ago (under --min-age): named may still be writing it; left for the next run'],
    ]);
    expect(young.totals).toMatchObject({ deferred: 1, failed: 0 });
    expect(existsSync(join(logs, 'query.log.1'))).toBe(true);
    const old = await ship(store, [localSource(logs, 'ns1', { minAgeSeconds: 60, now: () => mtime + 61_000 })], lineParserFor, opts);
    expect(old.files.map((f) => f.status)).toEqual(['loaded']);
  });

  it('with --min-age 0 defers nothing, not even a file whose mtime is a fraction of a millisecond past the clock (regression: a flaky deferral)', async () => {
    writeFileSync(join(logs, 'query.log.1'), `${line(1)}\n`);
    const { statSync } = await import('node:fs');
    const mtime = statSync(join(logs, 'query.log.1')).mtimeMs;
    const r = await ship(store, [localSource(logs, 'ns1', { minAgeSeconds: 0, now: () => mtime - 0.4 })], lineParserFor, opts);
    expect(r.files.map((f) => f.status)).toEqual(['loaded']);
  });

  it('leaves a file another process holds open for writing for the next run, whatever its age, and ships it once the holder exits', async () => {
    const file = join(logs, 'query.log.1');
    writeFileSync(file, `${line(1)}\n`);
    writeFileSync(join(logs, 'query.log.2'), `${line(2)}\n`);
    // A named whose reopen failed: it still appends to the rotated name.
    const holder = await holdOpen(file, '>>');
    try {
      const held = await ship(store, [localSource(logs, 'ns1', { minAgeSeconds: 0 })], lineParserFor, opts);
      expect(held.files.map((f) => [f.path, f.status, f.error])).toEqual([
        [file, 'deferred', `open for writing by PID ${holder.pid} (sleep): still being written; left for the next run`],
        [join(logs, 'query.log.2'), 'loaded', null],
      ]);
      expect(held.totals).toMatchObject({ deferred: 1, loaded: 1, failed: 0 });
      expect(existsSync(file)).toBe(true);
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
    }
    const free = await ship(store, [localSource(logs, 'ns1', { minAgeSeconds: 0 })], lineParserFor, opts);
    expect(free.files.map((f) => [f.status, f.rows])).toEqual([['loaded', 1]]);
    expect(readdirSync(join(logs, 'old')).sort()).toEqual(['query.log.1', 'query.log.2']);
  });
});
