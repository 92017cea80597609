import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { SqliteStore } from './sqlite/db-sqlite.js';
import { timeZone, utcText } from '../time/zone.js';
import {
  hourlyRollupsPay,
  serverVolumeQuery,
  timelineQuery,
  topQuery,
  type Bucket,
  type ReportFilter,
  type TopDimension,
} from '../report/report.js';
import { RollupAccumulator, hourBucket, minuteBucket, planRange } from './rollup.js';
import { SCHEMA_VERSION } from './schema.js';
import { sampleRow } from '../testing/sample-row.js';
import type { ParsedLine } from './store.js';

describe('planRange', () => {
  it('splits a range into whole buckets and the partial edges', () => {
    expect(planRange('2026-11-25 09:41:07.123', '2026-11-25 12:05:00.000', 'hour')).toEqual({
      rollup: { from: '2026-11-25 10:00:00', to: '2026-11-25 12:00:00' },
      raw: [
        { since: '2026-11-25 09:41:07.123', until: '2026-11-25 10:00:00.000' },
        { since: '2026-11-25 12:00:00.000', until: '2026-11-25 12:05:00.000' },
      ],
    });
  });

  it('needs no raw rows when the bounds are aligned, and none at an open end', () => {
    expect(planRange('2026-11-25 09:00:00.000', '2026-11-25 11:00:00.000', 'hour')).toEqual({
      rollup: { from: '2026-11-25 09:00:00', to: '2026-11-25 11:00:00' },
      raw: [],
    });
    expect(planRange('2026-11-25 09:30:00.000', undefined, 'minute')).toEqual({ rollup: { from: '2026-11-25 09:30:00' }, raw: [] });
    expect(planRange(undefined, undefined, 'hour')).toEqual({ rollup: {}, raw: [] });
    expect(planRange(undefined, '2026-11-25 09:30:00.001', 'minute')).toEqual({
      rollup: { to: '2026-11-25 09:30:00' },
      raw: [{ since: '2026-11-25 09:30:00.000', until: '2026-11-25 09:30:00.001' }],
    });
  });

  it('reads only raw rows when the range holds no whole bucket', () => {
    expect(planRange('2026-11-25 09:10:00.000', '2026-11-25 09:50:00.000', 'hour')).toEqual({
      rollup: null,
      raw: [{ since: '2026-11-25 09:10:00.000', until: '2026-11-25 09:50:00.000' }],
    });
    // crossing midnight and a month end
    expect(planRange('2026-11-30 23:59:59.999', '2026-12-01 00:00:00.000', 'minute').rollup).toBeNull();
  });
});

describe('hourlyRollupsPay', () => {
  it('reads hourly rollups only for ranges longer than a few hours', () => {
    const now = '2026-11-25 14:20:00.000';
    expect(hourlyRollupsPay({ since: '2026-11-25 13:20:00.000' }, now)).toBe(false);
    expect(hourlyRollupsPay({ since: '2026-11-24 14:20:00.000' }, now)).toBe(true);
    expect(hourlyRollupsPay({ since: '2026-11-20 00:00:00.000', until: '2026-11-20 02:00:00.000' }, now)).toBe(false);
    expect(hourlyRollupsPay({}, now)).toBe(true);
  });
});

describe('RollupAccumulator', () => {
  it('counts per minute and type, per hour and name (case-insensitive), per hour and client', () => {
    const acc = new RollupAccumulator();
    const rows = [
      sampleRow({ time: '2026-11-25 09:41:07.123', qname: 'WWW.example.com', qtype: 'A', clientIp: '192.0.2.1' }),
      sampleRow({ time: '2026-11-25 09:41:59.999', qname: 'www.EXAMPLE.com', qtype: 'A', clientIp: '192.0.2.1' }),
      sampleRow({ time: '2026-11-25 09:42:00.000', qname: 'www.example.com', qtype: 'AAAA', clientIp: '2001:db8::1' }),
      sampleRow({ time: '2026-11-25 10:00:00.000', qname: 'www.example.com', qtype: 'A', clientIp: '192.0.2.1' }),
    ];
    for (const r of rows) acc.add(r);
    expect(acc.rows('qtype').sort()).toEqual([
      ['2026-11-25 09:41:00', 'A', 2],
      ['2026-11-25 09:42:00', 'AAAA', 1],
      ['2026-11-25 10:00:00', 'A', 1],
    ]);
    expect(acc.rows('qname')).toEqual([
      ['2026-11-25 09:00:00', 'WWW.example.com', 3],
      ['2026-11-25 10:00:00', 'www.example.com', 1],
    ]);
    expect(acc.rows('client_ip').sort()).toEqual([
      ['2026-11-25 09:00:00', '192.0.2.1', 2],
      ['2026-11-25 09:00:00', '2001:db8::1', 1],
      ['2026-11-25 10:00:00', '192.0.2.1', 1],
    ]);
    // A row back in an earlier minute (logs of several files, clock steps) joins that minute's counts;
    // the same minute of another day is another bucket.
    acc.add(sampleRow({ time: '2026-11-25 09:41:30.000', qname: 'www.example.com', qtype: 'A', clientIp: '192.0.2.1' }));
    acc.add(sampleRow({ time: '2026-11-26 09:41:30.000', qname: 'www.example.com', qtype: 'A', clientIp: '192.0.2.1' }));
    expect(acc.rows('qtype').sort()).toEqual([
      ['2026-11-25 09:41:00', 'A', 3],
      ['2026-11-25 09:42:00', 'AAAA', 1],
      ['2026-11-25 10:00:00', 'A', 1],
      ['2026-11-26 09:41:00', 'A', 1],
    ]);
    expect(acc.rows('qname')).toEqual([
      ['2026-11-25 09:00:00', 'WWW.example.com', 4],
      ['2026-11-25 10:00:00', 'www.example.com', 1],
      ['2026-11-26 09:00:00', 'www.example.com', 1],
    ]);
    expect(minuteBucket('2026-11-25 09:41:07.123')).toBe('2026-11-25 09:41:00');
    expect(hourBucket('2026-11-25 09:41:07.123')).toBe('2026-11-25 09:00:00');
  });
});

describe('RollupAccumulator flushes (query floods)', () => {
  it('counts its distinct keys, forgets them on clear, and partial counts added up equal one pass', () => {
    const rows = Array.from({ length: 500 }, (_, i) =>
      sampleRow({
        time: `2026-11-25 ${String(9 + Math.floor(i / 200)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:07.000`,
        qname: i % 3 ? `n${i % 170}.example` : 'Same.Example',
        clientIp: `192.0.2.${i % 9}`,
        qtype: i % 2 ? 'A' : 'MX',
      }),
    );
    const one = new RollupAccumulator();
    for (const r of rows) one.add(r);
    expect(one.size).toBe(one.rows('qtype').length + one.rows('qname').length + one.rows('client_ip').length);

    // Flushed whenever 25 keys are held, as a store does, the partial rows summed as the upserts do.
    const acc = new RollupAccumulator();
    const sums = new Map<string, number>();
    let flushes = 0;
    const flush = () => {
      for (const col of ['qtype', 'qname', 'client_ip'] as const) {
        for (const [bucket, key, n] of acc.rows(col))
          sums.set(`${col}|${bucket}|${key.toLowerCase()}`, (sums.get(`${col}|${bucket}|${key.toLowerCase()}`) ?? 0) + n);
      }
      acc.clear();
      expect(acc.size).toBe(0);
      flushes++;
    };
    for (const r of rows) {
      acc.add(r);
      if (acc.size >= 25) flush();
    }
    flush();
    expect(flushes).toBeGreaterThan(10);
    const expected = new Map<string, number>();
    for (const col of ['qtype', 'qname', 'client_ip'] as const)
      for (const [bucket, key, n] of one.rows(col)) expected.set(`${col}|${bucket}|${key.toLowerCase()}`, n);
    expect(new Map([...sums].sort())).toEqual(new Map([...expected].sort()));
  });
});

describe('RollupAccumulator memory', () => {
  it('keeps no slice of the text it was given: a file covering many hours does not pin its chunks', () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const acc = new RollupAccumulator();
    gc();
    const before = process.memoryUsage().heapUsed;
    // One new hour per 1 MiB chunk, its fields sliced out of the chunk as the parser slices them.
    for (let h = 0; h < 96; h++) {
      const time = `2026-11-${String(21 + Math.floor(h / 24)).padStart(2, '0')} ${String(h % 24).padStart(2, '0')}:41:07.123`;
      const name = `host-${h}.Example.com`;
      const client = `2001:db8::${h.toString(16)}:abcd:ef01`;
      const chunk = `${'x'.repeat(1 << 20)}|${time}|${name}|${client}|`;
      const at = (field: string) => chunk.slice(chunk.indexOf(field), chunk.indexOf(field) + field.length);
      acc.add(sampleRow({ time: at(time), qname: at(name), clientIp: at(client) }));
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // Pinned, the 96 chunks would hold 96 MiB (192 MiB as two-byte text); the counts themselves are a few KiB.
    expect(grown).toBeLessThan(16 << 20);
    expect(acc.rows('qname')).toHaveLength(96);
  });
});

// ---- rollup reports against the rows, on a real SQLite file -------------------------------------

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const H = 3_600_000;
let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-rollup-'));
  store = new SqliteStore(join(dir, 'db.sqlite'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const NAMES = ['www.example.com', 'WWW.Example.com', 'mail.example.com', 'a.b.example.org', 'x\\032y.example.net', 'version.bind'];
const CLIENTS = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '2001:db8::1', '::1'];
const TYPES = ['A', 'AAAA', 'MX', 'TXT', 'HTTPS'];

/** Loads `files` files of random queries spread over the last `hours` hours, per server. */
async function loadRandom(rand: () => number, now: number, hours: number, files: number): Promise<void> {
  for (let f = 0; f < files; f++) {
    const server = f % 2 === 0 ? 'ns1' : 'ns2';
    const batch: ParsedLine[] = [];
    for (let i = 1; i <= 400; i++) {
      const time = utcText(new Date(now - Math.floor(rand() * hours * H)));
      const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
      batch.push({ kind: 'row', lineNo: i, row: sampleRow({ time, qname: pick(NAMES), clientIp: pick(CLIENTS), qtype: pick(TYPES) }) });
    }
    await store.loadFile(
      { server, path: `/q.${f}`, size: 1, sha256: `h${f}` },
      (async function* () {
        yield batch.slice(0, 150);
        yield batch.slice(150);
      })(),
    );
  }
}

/** Query results as a comparable, order-independent list (names compared case-insensitively, as SQL groups them). */
async function answer(q: { sql: string; params: (string | number | null)[] }): Promise<string[]> {
  const rows = await store.select(q.sql, q.params);
  return rows
    .map((r) =>
      Object.entries(r)
        .map(([k, v]) => `${k}=${k === 'value' ? String(v).toLowerCase() : String(v)}`)
        .join(' '),
    )
    .sort();
}

async function expectRollupsMatchRows(rand: () => number, now: number, ranges: number): Promise<number> {
  let checked = 0;
  for (let i = 0; i < ranges; i++) {
    const at = (h: number) => utcText(new Date(now - h * H));
    const a = rand() * 60;
    const b = rand() * 60;
    // Some bounds open, some aligned to the hour or the minute, most anywhere.
    const align = (t: string) => (rand() < 0.2 ? `${t.slice(0, 13)}:00:00.000` : rand() < 0.2 ? `${t.slice(0, 16)}:00.000` : t);
    const f: ReportFilter = {
      since: rand() < 0.15 ? undefined : align(at(Math.max(a, b))),
      until: rand() < 0.15 ? undefined : align(at(Math.min(a, b))),
      server: rand() < 0.3 ? 'ns2' : undefined,
    };
    for (const dim of ['qname', 'client_ip', 'qtype'] as TopDimension[]) {
      expect(await answer(topQuery(dim, f, null, 'sqlite', true)), `${dim} ${JSON.stringify(f)}`).toEqual(
        await answer(topQuery(dim, f, null, 'sqlite', false)),
      );
    }
    for (const per of ['minute', 'hour', 'day'] as Bucket[]) {
      expect(await answer(timelineQuery(f, per, 'sqlite', true)), `${per} ${JSON.stringify(f)}`).toEqual(
        await answer(timelineQuery(f, per, 'sqlite', false)),
      );
    }
    expect(await answer(serverVolumeQuery(f, 'sqlite', true))).toEqual(
      (await answer(serverVolumeQuery(f, 'sqlite', false))).map((r) => r.replace(/ last_query=\S+ \S+$/, '')),
    );
    checked++;
  }
  return checked;
}

describe('rollups on SQLite', () => {
  it('give the same answers as the rows, for any range, after several files', async () => {
    await store.init();
    const rand = prng(0x5eed);
    const now = Date.now();
    await loadRandom(rand, now, 60, 6);
    const total = await store.select('SELECT SUM(queries) AS n FROM dns_rollup_minute', []);
    expect(total[0]?.n).toBe(2400);
    expect(await expectRollupsMatchRows(rand, now, 40)).toBe(40);
  });

  it('are filled from the rows already stored when a version-1 database is migrated', async () => {
    await store.init();
    const rand = prng(7);
    const now = Date.now();
    await loadRandom(rand, now, 30, 2);
    // What a version-1 database looked like: no rollup tables.
    for (const t of ['dns_rollup_minute', 'dns_rollup_names', 'dns_rollup_clients']) store.db.exec(`DROP TABLE ${t}`);
    store.db.exec("UPDATE dnslog_meta SET value = '1' WHERE key = 'schema_version'");
    expect(await store.schemaVersion()).toBe(1);
    // Its times were UTC wall clock already: moved by nothing.
    await store.init({ assumeZone: () => timeZone('UTC') });
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    const n = await store.select('SELECT SUM(queries) AS n FROM dns_rollup_names', []);
    expect(n[0]?.n).toBe(800);
    expect(await expectRollupsMatchRows(rand, now, 15)).toBe(15);
  });

  it('stay equal to the rows after prune deletes in batches up to a cutoff in the middle of an hour', async () => {
    await store.init();
    const rand = prng(99);
    const now = Date.now();
    await loadRandom(rand, now, 60, 4);
    await store.close();
    const io = createMemoryIo();
    const exit = await runCli(
      'dnslog',
      buildProgram,
      ['node', 'dnslog', 'prune', '--db', `sqlite:${join(dir, 'db.sqlite')}`, '--keep', '1777m', '--batch', '100', '--json'],
      io,
    );
    expect(io.err()).toBe('');
    expect(exit).toBe(0);
    store = new SqliteStore(join(dir, 'db.sqlite'));
    const rows = Number((await store.select('SELECT COUNT(*) AS n FROM dns_queries', []))[0]?.n);
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(1600);
    expect(Number((await store.select('SELECT SUM(queries) AS n FROM dns_rollup_clients', []))[0]?.n)).toBe(rows);
    expect(await expectRollupsMatchRows(rand, now, 15)).toBe(15);
  });
});
