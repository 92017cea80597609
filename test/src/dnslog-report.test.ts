/**
 * `dnslog report` on a real MariaDB: every time-bounded report reads only the partitions in range
 * (EXPLAIN PARTITIONS), a suffix search uses the reversed-name index, and the reports give the
 * right answers (CIDR clients through INET6_ATON, MariaDB's REGEXP, registered domains); the
 * timeline's SVG is a valid picture.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import { useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_report', 'dnslog-report-', { dateStrings: true });
const { db, url } = scratch;

// Rows go in as UTC text (as ship stores them); the reports run in UTC, whatever this machine's zone.
const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined, TZ: 'UTC' } });

const p2 = (n: number) => String(n).padStart(2, '0');
const day = (d: Date) => `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
const pname = (d: Date, h: number) => `p${day(d).replace(/-/g, '')}${p2(h)}`;
const today = new Date(new Date().setUTCHours(0, 0, 0, 0));
const yesterday = new Date(today.getTime() - 86_400_000);
const Y = day(yesterday);
const T = day(today);
const since = `${Y} 23:00`;
const until = `${T} 01:00`;

async function insert(rows: [string, string, string, string, string][]): Promise<void> {
  let line = 1;
  for (const [qtime, server, client, qname, qtype] of rows) {
    await scratch.conn.query(
      "INSERT INTO dns_queries (qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no) VALUES (?, ?, ?, ?, ?, 'IN', ?, '+', 1, 0, 0, 0, 0, 1, ?)",
      [qtime, server, client, qname, [...qname.toLowerCase()].reverse().join(''), qtype, line++],
    );
  }
}

beforeAll(async () => {
  expect((await dnslog(['db', 'init', '--db', url, '--granularity', 'day'])).code).toBe(0);
  // Daily partitions up to today (db init --granularity day), hourly ones from today 00:00 (dnslog partitions).
  const [parts] = await scratch.conn.query<mysql.RowDataPacket[]>(
    "SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dns_queries'",
    [db],
  );
  for (const p of parts)
    if (String(p.name).startsWith('p2') && String(p.name) >= pname(today, 0))
      await scratch.conn.query(`ALTER TABLE dns_queries DROP PARTITION ${String(p.name)}`);
  const r = await dnslog(['partitions', '--db', url, '--granularity', 'hour', '--ahead', '2h', '--lock', join(scratch.work, 'lock')]);
  expect(r.code).toBe(0);
  await insert([
    [`${Y} 23:10:00.000`, 'ns1', '192.0.2.10', 'www.example.com', 'A'],
    [`${Y} 23:20:00.000`, 'ns1', '192.0.2.11', 'mail.example.com', 'MX'],
    [`${Y} 23:30:00.000`, 'ns2', '198.51.100.7', 'www.example.com', 'AAAA'],
    [`${T} 00:10:00.000`, 'ns2', '192.0.2.10', 'example.com', 'A'],
    [`${T} 00:20:00.000`, 'ns1', '2001:db8::5', 'notexample.com', 'A'],
    [`${T} 00:40:00.000`, 'ns1', '192.0.2.200', 'a.b.example.co.uk', 'TXT'],
    [`${Y} 05:00:00.000`, 'ns1', '192.0.2.10', 'early.example.com', 'A'],
    [`${day(new Date(yesterday.getTime() - 3 * 86_400_000))} 12:00:00.000`, 'ns3', '192.0.2.10', 'old.example.com', 'A'],
  ]);
  await scratch.conn.query(
    "INSERT INTO dnslog_files (server, path, size, sha256, shipped_at, last_time) VALUES ('ns1', '/a', 1, 'a', NOW(), ?), ('ns2', '/b', 1, 'b', NOW(), ?), ('ns3', '/c', 1, 'c', NOW() - INTERVAL 3 DAY, ?)",
    [`${T} 00:40:00.000`, `${T} 00:10:00.000`, `${day(new Date(yesterday.getTime() - 3 * 86_400_000))} 12:00:00.000`],
  );
  // The rows went in by hand, not through ship: count the rollups from them.
  const rb = await dnslog(['db', 'rebuild-rollups', '--db', url, '--lock', join(scratch.work, 'lock'), '--json']);
  expect(rb.stderr).toBe('');
  expect(JSON.parse(rb.stdout)).toMatchObject({ rows: 8 });
});

type Plan = { table: string; partitions: string | null; key: string | null; type: string }[];

async function plan(args: string[]): Promise<Plan> {
  const r = await dnslog(['report', ...args, '--db', url, '--explain', '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Plan;
}

describe('dnslog report on MariaDB', () => {
  it('reads only the partitions in the --since/--until range, in every time-bounded report (EXPLAIN PARTITIONS)', async () => {
    const inRange = `${pname(yesterday, 0)},${pname(today, 0)}`;
    const reports = [
      ['top-names'],
      ['top-names', '--by', 'domain'],
      ['top-clients', '--client', '192.0.2.0/24'],
      ['qtypes', '--server', 'ns1'],
      ['timeline', '--per', 'minute'],
      ['search', '--like', '%.example.com'],
      ['search', '--regex', '^www'],
      ['search', '--suffix', 'example.com'],
      ['servers'],
    ];
    const plans = await Promise.all(reports.map((args) => plan([...args, '--raw', '--since', since, '--until', until])));
    reports.forEach((args, i) => expect({ args, partitions: plans[i]?.[0]?.partitions }).toEqual({ args, partitions: inRange }));
    // Without --until the range is open towards the future, but nothing older is read.
    const open = (await plan(['top-names', '--raw', '--since', `${T} 00:00`]))[0]?.partitions ?? '';
    expect(open).not.toContain('p_start');
    expect(open).not.toContain(pname(yesterday, 0));
  });

  it('reads whole hours from the rollups and only the partial ones at the edges from the rows, in their partitions', async () => {
    for (const args of [['top-names'], ['top-clients'], ['qtypes'], ['timeline', '--per', 'hour'], ['servers']]) {
      const p = await plan([...args, '--since', `${Y} 20:30:30`, '--until', `${T} 00:30:30`]);
      const raw = p.filter((r) => r.table === 'dns_queries');
      expect({ args, raw: raw.map((r) => r.partitions).sort() }).toEqual({ args, raw: [pname(yesterday, 0), pname(today, 0)] });
      expect(p.some((r) => r.table.startsWith('dns_rollup_'))).toBe(true);
    }
    // Aligned bounds: no row is read at all.
    const aligned = await plan(['top-names', '--since', `${Y} 20:00`, '--until', until]);
    expect(aligned.filter((r) => r.table === 'dns_queries')).toEqual([]);
  });

  it('answers a suffix search from the reversed-name index, not a scan', async () => {
    const p = await plan(['search', '--suffix', 'example.com']);
    expect(p[0]).toMatchObject({ key: 'qname_rev', type: 'range' });
  });

  it('gives the right answers', async () => {
    const json = async (args: string[]) => {
      const r = await dnslog(['report', ...args, '--db', url, '--since', since, '--until', until, '--json']);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as Record<string, unknown>[];
    };
    expect(await json(['top-names', '--limit', '2'])).toEqual([
      { qname: 'www.example.com', queries: 2 },
      { qname: 'a.b.example.co.uk', queries: 1 },
    ]);
    expect(await json(['top-names', '--by', 'domain'])).toEqual([
      { domain: 'example.com', queries: 4, names: 3 },
      { domain: 'example.co.uk', queries: 1, names: 1 },
      { domain: 'notexample.com', queries: 1, names: 1 },
    ]);
    expect(await json(['top-clients', '--client', '192.0.2.0/25'])).toEqual([
      { client_ip: '192.0.2.10', queries: 2 },
      { client_ip: '192.0.2.11', queries: 1 },
    ]);
    expect(await json(['top-clients', '--client', '2001:db8::/32'])).toEqual([{ client_ip: '2001:db8::5', queries: 1 }]);
    // One address however it is spelt (report-command.test.ts asks SQLite the same).
    for (const spelt of ['2001:db8::5', '2001:DB8::5', '2001:0db8:0:0::5']) {
      expect(await json(['top-clients', '--client', spelt]), spelt).toEqual([{ client_ip: '2001:db8::5', queries: 1 }]);
    }
    expect((await json(['search', '--suffix', 'example.com'])).map((r) => r.qname)).toEqual([
      'example.com',
      'www.example.com',
      'mail.example.com',
      'www.example.com',
    ]);
    expect((await json(['search', '--regex', '^(mail|a\\.b)\\.'])).map((r) => r.qname)).toEqual(['a.b.example.co.uk', 'mail.example.com']);
    expect(await json(['timeline', '--per', 'hour'])).toEqual([
      { bucket: `${Y}T23:00Z`, server: 'ns1', queries: 2 },
      { bucket: `${Y}T23:00Z`, server: 'ns2', queries: 1 },
      { bucket: `${T}T00:00Z`, server: 'ns1', queries: 2 },
      { bucket: `${T}T00:00Z`, server: 'ns2', queries: 1 },
    ]);
    const csv = await dnslog(['report', 'qtypes', '--db', url, '--since', since, '--until', until, '--format', 'csv']);
    expect(csv.stdout).toBe('qtype,queries\nA,3\nAAAA,1\nMX,1\nTXT,1\n');
  });

  it('gives the same answers from the rollups as from the rows, for ranges cutting through hours', async () => {
    const json = async (args: string[]) => {
      const r = await dnslog(['report', ...args, '--db', url, '--json', '--limit', '100']);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as unknown;
    };
    const ranges = [
      ['--since', `${Y} 23:15`, '--until', `${T} 00:35`],
      ['--since', `${Y} 23:20`],
      ['--until', `${T} 00:15:30`],
      ['--since', `${Y} 04:59:59.999`, '--until', `${T} 00:20:00.001`],
    ];
    let compared = 0;
    for (const range of ranges) {
      for (const args of [
        ['top-names'],
        ['top-clients'],
        ['qtypes'],
        ['timeline', '--per', 'minute'],
        ['timeline', '--per', 'day'],
        ['top-names', '--server', 'ns1'],
      ]) {
        const viaRollups = await json([...args, ...range]);
        expect({ args, range, viaRollups }).toEqual({ args, range, viaRollups: await json([...args, ...range, '--raw']) });
        compared++;
      }
    }
    expect(compared).toBe(24);
  }, 240_000);

  it('servers: volume in the range and last seen; the one that stopped shipping stands out, exit 1', async () => {
    const r = await dnslog(['report', 'servers', '--db', url, '--since', since, '--until', until, '--stale', '2d']);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^server +queries +last_seen +last_shipped +files +status$/);
    // The table says which zone its times are in (the run's: UTC here).
    expect(lines.pop()).toBe('(times in UTC)');
    expect(
      lines.slice(2).map(
        (l) =>
          l
            .split(/\s+/)
            .filter((_, i) => i === 0 || i === 1)
            .join(' ') +
          ' ' +
          (l.trim().split(/\s+/).at(-1) ?? ''),
      ),
    ).toEqual(['ns1 4 ok', 'ns2 2 ok', 'ns3 0 STALE']);
    expect(r.stderr).toMatch(/^dnslog: 1 server\(s\) with no query newer than \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(--stale 2d\): ns3\n$/);
  });

  it('timeline draws bars in the terminal and writes an SVG that renders', async () => {
    const svg = join(scratch.work, 'timeline.svg');
    const html = join(scratch.work, 'timeline.html');
    const r = await dnslog([
      'report',
      'timeline',
      '--db',
      url,
      '--since',
      `${Y} 00:00`,
      '--until',
      until,
      '--per',
      'hour',
      '--svg',
      svg,
      '--html',
      html,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^time +ns1 +ns2 +total$/);
    expect(r.stdout).toMatch(new RegExp(`^${Y} 23:00 +2 +1 +3  █+$`, 'm'));
    expect(readFileSync(html, 'utf8')).toContain('<svg');
    const png = join(scratch.work, 'timeline.png');
    await promisify(execFile)('rsvg-convert', ['-o', png, svg], { timeout: 30_000 });
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it('bad input: one line, exit 2', async () => {
    const bad = await dnslog(['report', 'timeline', '--db', url, '--since', 'last tuesday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("dnslog: --since 'last tuesday': expected a duration like 1h, 30m, 2d or a time like 2026-11-25 09:00\n");
    const re = await dnslog(['report', 'search', '--db', url, '--regex', '[a-']);
    expect(re.code).toBe(2);
    expect(re.stderr.split('\n')).toHaveLength(2);
    expect(re.stderr).toMatch(/^dnslog: --regex '\[a-': /);
  });
});
