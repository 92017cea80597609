/**
 * dnslog's stores under faults, against the real MariaDB: a full $TMPDIR while the rejects spool is
 * written, LOAD DATA LOCAL warnings (values cut, duplicates skipped), fields too wide for MariaDB
 * (the two stores must agree), and rollups flushed in several batches inside one transaction.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlStore, mysqlSettings } from '../../apps/dnslog/dist/store/mysql/db-mysql.js';
import { parseDbUrl } from '../../apps/dnslog/dist/store/db-url.js';
import type { ParsedLine } from '../../apps/dnslog/dist/store/store.js';
import type { QueryRow } from '../../apps/dnslog/dist/store/row.js';
import { sampleRow } from '../../apps/dnslog/src/testing/sample-row.js';
import { useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_faults', 'dnslog-faults-');
const { url: mysqlUrl, count } = scratch;

const dnslog = (args: string[], env: Record<string, string | undefined> = {}): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 60_000, env: { DNSLOG_DB_PASSWORD: undefined, ...env } });

/** Writes a rotated log as named left it an hour ago (old enough for ship's --min-age). */
function writeRotated(path: string, text: string): void {
  writeFileSync(path, text);
  const anHourAgo = new Date(Date.now() - 3_600_000);
  utimesSync(path, anHourAgo, anHourAgo);
}

/** A real 9.18 line; `over` replaces parts of it. */
function lineFor(
  i: number,
  over: { name?: string; view?: string; signer?: string; qtype?: string; flags?: string; ecs?: string } = {},
): string {
  const name = over.name ?? `h${i}.example.test`;
  const time = `25-Nov-2026 09:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}`;
  return (
    `${time} queries: info: client @0x7f3729afc098 127.0.0.1#${1024 + (i % 60000)}${over.signer === undefined ? '' : `/key ${over.signer}`} (${name}): ` +
    `${over.view === undefined ? '' : `view ${over.view}: `}query: ${name} IN ${over.qtype ?? 'A'} ${over.flags ?? '+E(0)K'} (127.0.0.1)` +
    `${over.ecs === undefined ? '' : ` [ECS ${over.ecs}]`}`
  );
}

describe('dnslog ship: $TMPDIR full while the rejects spool is written', () => {
  let tiny: string;
  beforeAll(() => {
    tiny = join(scratch.work, 'tiny-tmp');
    mkdirSync(tiny);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=1777', 'tmpfs', tiny]);
  });
  afterAll(() => {
    if (tiny) execFileSync('umount', [tiny]);
  });

  it('fails the file with one line naming the spool and ENOSPC, rolls back, removes the spool, does not hang; a re-run ships it once', async () => {
    const dir = join(scratch.work, 'spool-full');
    mkdirSync(dir);
    const file = join(dir, 'query.log.1');
    const good = Array.from({ length: 200 }, (_, i) => lineFor(i));
    // ~1 MiB of rejects against a 64 KiB $TMPDIR.
    const junk = Array.from({ length: 8000 }, (_, i) => `junk line ${i} ${'x'.repeat(120)}`);
    writeRotated(file, `${[...good, ...junk].join('\n')}\n`);

    const r = await dnslog(['ship', file, '--db', mysqlUrl, '--server', 'ns-spool'], { TMPDIR: tiny });
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(2);
    expect(out).toMatch(new RegExp(`cannot write the rejects spool ${tiny}/dnslog-rejects-\\w+/rejects\\.tsv: ENOSPC`));
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
    // The message is one line (the per-file line and the closing error line both carry it whole).
    for (const l of out.split('\n').filter((x) => x.includes('rejects spool')))
      expect(l).toMatch(/rejects\.tsv: ENOSPC: no space left on device, write \(set TMPDIR/);
    expect(existsSync(file)).toBe(true);
    expect(await count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', ['ns-spool'])).toBe(0);
    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-spool'])).toBe(0);
    expect(readdirSync(tiny).filter((n) => n.startsWith('dnslog-rejects-'))).toEqual([]);

    const again = await dnslog(['ship', file, '--db', mysqlUrl, '--server', 'ns-spool']);
    expect(again.code, again.stdout + again.stderr).toBe(1); // shipped, with rejected lines
    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-spool'])).toBe(200);
    expect(await count('SELECT COUNT(DISTINCT line_no) FROM dns_queries WHERE server = ?', ['ns-spool'])).toBe(200);
    expect(
      await count('SELECT COUNT(*) FROM dnslog_rejects r JOIN dnslog_files f ON f.id = r.file_id WHERE f.server = ?', ['ns-spool']),
    ).toBe(8000);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(join(dir, 'old'))).toEqual(['query.log.1']);
  });
});

describe('LOAD DATA LOCAL results are checked', () => {
  const row = (over: Partial<QueryRow>): QueryRow => sampleRow({ qtype: 'A', ...over });
  async function* batches(lines: ParsedLine[]): AsyncGenerator<ParsedLine[]> {
    yield lines;
  }
  const open = () => {
    const t = parseDbUrl(mysqlUrl);
    if (t.kind !== 'mysql') throw new Error('not a mysql URL');
    return new MysqlStore(mysqlSettings(t, {}));
  };
  const meta = (sha: string) => ({ server: 'ns-load', path: '/x/query.log.1', size: 1, sha256: sha.repeat(64) });

  it('fails the file on a warning (a value cut by the column) with the server message, keeping nothing', async () => {
    const store = open();
    try {
      await store.init();
      const lines: ParsedLine[] = [
        { kind: 'row', lineNo: 1, row: row({}) },
        { kind: 'row', lineNo: 2, row: row({ view: 'v'.repeat(300) }) },
      ];
      await expect(store.loadFile(meta('a'), batches(lines))).rejects.toThrow(
        /^LOAD DATA into dns_queries stored 2 of 2 rows with 1 warning\(s\): Warning 1265: Data truncated for column 'view' at row 2; what this run had not committed of the file was rolled back$/,
      );
      expect(await count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', ['ns-load'])).toBe(0);
      expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-load'])).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('fails the file when fewer rows are stored than sent (a duplicate key skipped)', async () => {
    const store = open();
    try {
      await store.init();
      const lines: ParsedLine[] = [
        { kind: 'row', lineNo: 1, row: row({}) },
        { kind: 'row', lineNo: 1, row: row({}) },
      ];
      await expect(store.loadFile(meta('b'), batches(lines))).rejects.toThrow(
        /^LOAD DATA into dns_queries stored 1 of 2 rows with 1 warning\(s\): Warning 1062: Duplicate entry/,
      );
      expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-load'])).toBe(0);
      // the connection is usable afterwards, and a good file loads
      expect((await store.loadFile(meta('c'), batches([{ kind: 'row', lineNo: 1, row: row({}) }]))).rows).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('gives the same rollups with many flushes inside the transaction as with one, and a recount agrees', async () => {
    const lines: ParsedLine[] = Array.from({ length: 500 }, (_, i) => ({
      kind: 'row' as const,
      lineNo: i + 1,
      row: row({
        time: `2026-11-25 ${String(9 + Math.floor(i / 200)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00.000`,
        qname: i % 4 ? `n${i}.example` : 'same.example',
        clientIp: `192.0.2.${i % 9}`,
        qtype: i % 3 ? 'A' : 'MX',
      }),
    }));
    const t = parseDbUrl(mysqlUrl);
    if (t.kind !== 'mysql') throw new Error('not a mysql URL');
    const once = new MysqlStore(mysqlSettings(t, {}));
    const often = new MysqlStore(mysqlSettings(t, {}), undefined, { rollupFlushKeys: 11 });
    const snapshot = async (server: string) => {
      const out: Record<string, unknown> = {};
      for (const [table, col] of [
        ['dns_rollup_minute', 'qtype'],
        ['dns_rollup_names', 'qname'],
        ['dns_rollup_clients', 'client_ip'],
      ] as const) {
        const [rows] = await scratch.conn.query(`SELECT bucket, ${col} AS k, queries FROM ${table} WHERE server = ? ORDER BY bucket, k`, [
          server,
        ]);
        out[table] = rows;
      }
      return out;
    };
    try {
      await once.init();
      await once.loadFile({ ...meta('d'), server: 'ns-once' }, batches(lines));
      async function* small(): AsyncGenerator<ParsedLine[]> {
        for (let i = 0; i < lines.length; i += 10) yield lines.slice(i, i + 10);
      }
      expect((await often.loadFile({ ...meta('d'), server: 'ns-often' }, small())).rows).toBe(500);
      const expected = await snapshot('ns-once');
      expect((expected.dns_rollup_names as unknown[]).length).toBeGreaterThan(300);
      expect(await snapshot('ns-often')).toEqual(expected);
      expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-often'])).toBe(500);
      await once.rebuildRollups();
      expect(await snapshot('ns-often')).toEqual(expected);
    } finally {
      await once.close();
      await often.close();
    }
  });
});

describe('MariaDB: a long file in bounded transactions', () => {
  it("commits parts of chunkLines lines with the ledger's progress; a load stopped between parts goes on after the last, every line and reject once", async () => {
    const t = parseDbUrl(mysqlUrl);
    if (t.kind !== 'mysql') throw new Error('not a mysql URL');
    const store = new MysqlStore(mysqlSettings(t, {}), undefined, { chunkLines: 40 });
    const server = 'ns-chunks';
    const row = (over: Partial<QueryRow>): QueryRow => sampleRow({ qtype: 'A', ...over });
    const lines: ParsedLine[] = Array.from({ length: 130 }, (_, i) =>
      i % 10 === 9
        ? ({ kind: 'reject', lineNo: i + 1, reason: 'binary', line: `junk ${i}` } as const)
        : ({
            kind: 'row',
            lineNo: i + 1,
            row: row({ time: `2026-11-25 09:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000` }),
          } as const),
    );
    async function* tens(list: ParsedLine[], failAfter?: number): AsyncGenerator<ParsedLine[]> {
      for (let i = 0; i < list.length; i += 10) {
        if (failAfter !== undefined && i >= failAfter) throw new Error('killed');
        yield list.slice(i, i + 10);
      }
    }
    const m = { server, path: '/x/query.log.big', size: 1, sha256: 'c'.repeat(64) };
    try {
      await store.init();
      // Parts end after lines 40 and 80; the stop after line 100 loses lines 81-100 only.
      await expect(store.loadFile(m, tens(lines, 100))).rejects.toThrow('killed');
      const shipped = await store.findShipped(server, m.sha256);
      expect(shipped).toMatchObject({ doneLines: 80, rows: 72, rejects: 8 });
      expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', [server])).toBe(72);
      if (!shipped || shipped.doneLines === null) throw new Error('no progress recorded');
      const done = await store.loadFile(m, tens(lines.slice(80)), {
        fileId: shipped.id,
        doneLines: shipped.doneLines,
        rows: shipped.rows,
        rejects: shipped.rejects,
        firstTime: shipped.firstTime,
        lastTime: shipped.lastTime,
      });
      // Line 130 is a reject: the last row is line 129's.
      expect(done).toMatchObject({ rows: 117, rejects: 13, firstTime: '2026-11-25 09:00:00.000', lastTime: '2026-11-25 09:02:08.000' });
      expect(await store.findShipped(server, m.sha256)).toMatchObject({ doneLines: null, rows: 117, rejects: 13 });
      expect(await count('SELECT COUNT(*) FROM (SELECT DISTINCT line_no FROM dns_queries WHERE server = ?) d', [server])).toBe(117);
      expect(await count('SELECT COUNT(*) FROM dnslog_rejects WHERE file_id = ?', [shipped.id])).toBe(13);
      expect(await count('SELECT SUM(queries) FROM dns_rollup_minute WHERE server = ?', [server])).toBe(117);
    } finally {
      await store.close();
    }
  });
});

describe('dnslog ship: a field wider than its MariaDB column', () => {
  it('is the same field_too_long reject on SQLite and MariaDB, never a value cut on one store', async () => {
    const dir = join(scratch.work, 'wide');
    mkdirSync(dir);
    const file = join(dir, 'query.log.1');
    const wide = [
      lineFor(1000, { view: 'v'.repeat(256) }),
      lineFor(1001, { signer: 'k'.repeat(256) }),
      lineFor(1002, { qtype: `TYPE${'1'.repeat(13)}` }),
      lineFor(1003, { flags: `+E(0)K${'D'.repeat(30)}` }),
      lineFor(1004, { ecs: `203.0.113.0/24/0${'0'.repeat(60)}` }),
      lineFor(1005, { name: `${'a'.repeat(60)}.`.repeat(17) + 'com' }),
    ];
    const good = [lineFor(1), lineFor(2, { view: 'v'.repeat(255), signer: 'k'.repeat(255) })];
    writeRotated(file, `${[good[0], ...wide, good[1]].join('\n')}\n`);
    const sqlitePath = join(scratch.work, 'wide.sqlite');
    const a = await dnslog(['ship', file, '--db', `sqlite:${sqlitePath}`, '--server', 'ns-wide', '--keep']);
    const b = await dnslog(['ship', file, '--db', mysqlUrl, '--server', 'ns-wide', '--keep']);
    expect(a.code, a.stdout + a.stderr).toBe(1);
    expect(b.code, b.stdout + b.stderr).toBe(1);
    expect(a.stdout).toContain('2 rows, 6 rejected');
    expect(b.stdout).toContain('2 rows, 6 rejected');
    const lite = new Database(sqlitePath, { readonly: true });
    try {
      const liteRejects = lite.prepare('SELECT line_no, reason, CAST(line AS TEXT) AS line FROM dnslog_rejects ORDER BY line_no').all();
      const [myRejects] = await scratch.conn.query<mysql.RowDataPacket[]>(
        'SELECT r.line_no, r.reason, CAST(r.line AS CHAR) AS line FROM dnslog_rejects r JOIN dnslog_files f ON f.id = r.file_id WHERE f.server = ? ORDER BY r.line_no',
        ['ns-wide'],
      );
      expect(liteRejects).toEqual(wide.map((line, i) => ({ line_no: i + 2, reason: 'field_too_long', line })));
      expect(myRejects.map((r) => ({ ...r }))).toEqual(liteRejects);
      const liteRows = lite.prepare('SELECT line_no, view, signer, qtype, flags FROM dns_queries ORDER BY line_no').all();
      const [myRows] = await scratch.conn.query<mysql.RowDataPacket[]>(
        'SELECT line_no, view, signer, qtype, flags FROM dns_queries WHERE server = ? ORDER BY line_no',
        ['ns-wide'],
      );
      expect(myRows.map((r) => ({ ...r }))).toEqual(liteRows);
      expect(liteRows).toHaveLength(2);
    } finally {
      lite.close();
    }
  });
});
