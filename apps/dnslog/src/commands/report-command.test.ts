import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { SqliteStore } from '../store/sqlite/db-sqlite.js';
import { utcText } from '../time/zone.js';
import { sampleRow } from '../testing/sample-row.js';
import type { ParsedLine } from '../store/store.js';

let dir: string;
let db: string;

/**
 * The instants the reports run at, on the clock injected through the io: an ordinary noon, just
 * after and just before midnight, the last evening of a month and New Year's Eve (local time).
 * The repeated hour of a DST fall-back is left out: rows carry the name server's wall clock, which
 * repeats that hour (the time line's zone handling is its own issue).
 */
const INSTANTS: [string, Date][] = [
  ['noon', new Date(2026, 10, 25, 12, 0, 0)],
  ['00:00:30', new Date(2026, 11, 7, 0, 0, 30)],
  ['21:30', new Date(2026, 11, 7, 21, 30, 0)],
  ['23:59:30', new Date(2026, 11, 7, 23, 59, 30)],
  ['a month end', new Date(2026, 10, 30, 23, 59, 30)],
  ['New Year', new Date(2026, 11, 31, 23, 59, 30)],
  ['New Year morning', new Date(2027, 0, 1, 0, 0, 30)],
];
let now = new Date();

async function run(...args: string[]) {
  const io = createMemoryIo({}, { now: () => now });
  const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

const ago = (ms: number) => utcText(new Date(now.getTime() - ms));
const H = 3_600_000;

async function load(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-report-'));
  db = `sqlite:${join(dir, 'db.sqlite')}`;
  const store = new SqliteStore(join(dir, 'db.sqlite'));
  await store.init();
  const rows: [string, string, string, string][] = [
    [ago(10 * 60_000), '192.0.2.10', 'www.example.com', 'A'],
    [ago(20 * 60_000), '192.0.2.11', 'mail.example.com', 'MX'],
    [ago(30 * 60_000), '198.51.100.1', 'www.example.com', 'AAAA'],
    [ago(3 * H), '192.0.2.10', 'example.com', 'A'],
    [ago(3 * H), '192.0.2.10', 'notexample.com', 'A'],
    [ago(50 * H), '2001:db8::5', 'old.example.org', 'TXT'],
  ];
  async function* items(server: string): AsyncGenerator<ParsedLine[]> {
    let n = 0;
    const batch: ParsedLine[] = rows.map(([time, clientIp, qname, qtype]) => ({
      kind: 'row',
      lineNo: ++n,
      row: sampleRow({ time, clientIp, qname, qtype }),
    }));
    if (server === 'ns2') batch.push({ kind: 'row', lineNo: ++n, row: sampleRow({ time: ago(9 * H), qname: 'ns2-only.example.net' }) });
    yield batch;
  }
  await store.loadFile({ server: 'ns1', path: '/q.1', size: 1, sha256: 'a' }, items('ns1'));
  await store.loadFile({ server: 'ns2', path: '/q.2', size: 1, sha256: 'b' }, items('ns2'));
  await store.close();
}
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.each(INSTANTS)('at %s', (_label, instant) => {
  beforeEach(async () => {
    now = instant;
    await load();
  });

  describe('dnslog report on SQLite', () => {
    it('top-names within --since, and grouped by registered domain', async () => {
      const r = await run('report', 'top-names', '--db', db, '--since', '1h', '--server', 'ns1', '--json');
      expect(JSON.parse(r.out)).toEqual([
        { qname: 'www.example.com', queries: 2 },
        { qname: 'mail.example.com', queries: 1 },
      ]);
      const d = await run('report', 'top-names', '--db', db, '--by', 'domain', '--format', 'csv');
      expect(d.out).toBe('domain,queries,names\nexample.com,8,3\nexample.org,2,1\nnotexample.com,2,1\nexample.net,1,1\n');
    });

    it('top-clients for a CIDR block, IPv4 and IPv6', async () => {
      const r = await run('report', 'top-clients', '--db', db, '--client', '192.0.2.0/24', '--json');
      expect(JSON.parse(r.out)).toEqual([
        { client_ip: '192.0.2.10', queries: 6 },
        { client_ip: '192.0.2.11', queries: 2 },
      ]);
      const v6 = await run('report', 'top-clients', '--db', db, '--client', '2001:db8::/32', '--json');
      expect(JSON.parse(v6.out)).toEqual([{ client_ip: '2001:db8::5', queries: 2 }]);
    });

    it('top-clients for one address however it is spelt (regression: SQLite compared the text, MariaDB case-insensitively)', async () => {
      for (const spelt of ['2001:db8::5', '2001:DB8::5', '2001:0db8:0:0::5']) {
        const r = await run('report', 'top-clients', '--db', db, '--client', spelt, '--json');
        expect(JSON.parse(r.out), spelt).toEqual([{ client_ip: '2001:db8::5', queries: 2 }]);
      }
    });

    it('search by suffix finds the domain and names under it, not lookalikes', async () => {
      const r = await run('report', 'search', '--db', db, '--suffix', 'example.com', '--server', 'ns1', '--json');
      expect((JSON.parse(r.out) as { qname: string }[]).map((x) => x.qname).sort()).toEqual([
        'example.com',
        'mail.example.com',
        'www.example.com',
        'www.example.com',
      ]);
      const re = await run('report', 'search', '--db', db, '--regex', '^(mail|old)\\.', '--server', 'ns1', '--format', 'csv');
      expect(
        re.out
          .split('\n')
          .slice(1, -1)
          .map((l) => l.split(',')[3]),
      ).toEqual(['mail.example.com', 'old.example.org']);
      const like = await run('report', 'search', '--db', db, '--like', 'www.%', '--server', 'ns2', '--json');
      expect(JSON.parse(like.out)).toHaveLength(2);
      const plan = await run('report', 'search', '--db', db, '--suffix', 'example.com', '--explain', '--json');
      expect(JSON.stringify(JSON.parse(plan.out))).toContain('USING INDEX dns_queries_qname_rev');
    });

    it('timeline per hour draws a bar chart and an SVG', async () => {
      const svg = join(dir, 't.svg');
      const r = await run('report', 'timeline', '--db', db, '--since', '4h', '--per', 'hour', '--svg', svg);
      expect(r.exit).toBe(0);
      expect(r.out.split('\n')[0]).toMatch(/^time +ns1 +ns2 +total$/);
      expect(r.out).toContain('█');
      expect(readFileSync(svg, 'utf8')).toMatch(
        /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*>ns1 \(\d+\)<[\s\S]*>ns2 \(\d+\)<[\s\S]*<\/svg>\n$/,
      );
    });

    it('servers: volume and last seen; a server that stopped shipping is STALE, exit 1', async () => {
      const r = await run('report', 'servers', '--db', db, '--stale', '1h', '--json');
      expect(r.exit).toBe(0);
      expect(
        (JSON.parse(r.out) as { server: string; queries: number; status: string }[]).map((s) => [s.server, s.queries, s.status]),
      ).toEqual([
        ['ns1', 6, 'ok'],
        ['ns2', 7, 'ok'],
      ]);
      const late = await run('report', 'servers', '--db', db, '--stale', '5m');
      expect(late.exit).toBe(1);
      expect(late.err).toMatch(/^dnslog: 2 server\(s\) with no query newer than .* \(--stale 5m\): ns1, ns2\n$/);
    });

    it('bad input: one line, exit 2', async () => {
      for (const [args, msg] of [
        [
          ['report', 'top-names', '--since', 'yesterday'],
          "dnslog: --since 'yesterday': expected a duration like 1h, 30m, 2d or a time like 2026-11-25 09:00\n",
        ],
        [['report', 'search', '--regex', '(a'], "dnslog: --regex '(a': /(a/: Unterminated group\n"],
        [['report', 'search'], 'dnslog: report search: give --like PATTERN, --suffix DOMAIN or --regex RE\n'],
        [
          ['report', 'top-clients', '--client', '300.1.1.1'],
          "dnslog: --client '300.1.1.1': expected an IP address or a CIDR block like 192.0.2.0/24 or 2001:db8::/32\n",
        ],
      ] as const) {
        const r = await run(...args, '--db', db);
        expect(r.exit).toBe(2);
        expect(r.err).toBe(msg);
      }
    });

    it('a mistyped --db: one line, exit 2, and no empty database file made (regression: reports created it)', async () => {
      const typo = join(dir, 'dnslgo.sqlite');
      for (const report of ['top-names', 'timeline', 'servers']) {
        const r = await run('report', report, '--db', `sqlite:${typo}`);
        expect(r.exit, report).toBe(2);
        expect(r.err).toBe(
          `dnslog: cannot open SQLite database ${typo}: no such file (reports read a database that ship made; check --db)\n`,
        );
      }
      expect(existsSync(typo)).toBe(false);
    });
  });

  describe('dnslog prune on SQLite', () => {
    it('archives then deletes, in batches, only rows older than the cutoff', async () => {
      const dry = await run('prune', '--db', db, '--keep', '2h', '--dry-run');
      expect(dry.out.split('\n')[0]).toMatch(/^would delete rows before .*: 7 row\(s\)$/);
      const archive = join(dir, 'archive');
      const r = await run('prune', '--db', db, '--keep', '2h', '--archive', archive, '--batch', '100', '--json');
      expect(r.exit).toBe(0);
      const res = JSON.parse(r.out) as { actions: { rows: number; archive: string }[]; kept: { rows: number } };
      expect(res.actions[0]?.rows).toBe(7);
      expect(res.kept.rows).toBe(6);
      const { readArchiveCount } = await import('../store/archive.js');
      expect((await readArchiveCount(res.actions[0]?.archive ?? '')).rows).toBe(7);
      const left = await run('report', 'top-names', '--db', db, '--json', '--limit', '100');
      expect((JSON.parse(left.out) as { queries: number }[]).reduce((a, b) => a + b.queries, 0)).toBe(6);
    });

    it('refuses a retention that does not parse, and partitions on SQLite', async () => {
      expect((await run('prune', '--db', db, '--keep', 'forever')).err).toBe(
        "dnslog: --keep 'forever': expected a duration like 30d, 12w or 48h\n",
      );
      const p = await run('partitions', '--db', db);
      expect(p.exit).toBe(2);
      expect(p.err).toContain('is SQLite, which has no partitions');
    });
  });
});
