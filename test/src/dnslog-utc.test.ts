/**
 * UTC inside, local outside, on the real MariaDB: a Berlin log across both DST changes of 2026 is
 * stored in UTC (the repeated hour by file order) into hourly partitions whose bounds are UTC; two
 * servers in different zones meet in one bucket; a version-4 database (the servers' wall clock,
 * no tz column) is moved to UTC by `db init --assume-tz`, once.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTool, type ToolRun } from './run-tool.js';
import { connectMariadb, useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_utc', 'dnslog-utc-');
const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined } });

const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function bindLine(wall: string, name: string): string {
  const [d, t] = wall.split(' ');
  const [y, m, day] = (d ?? '').split('-');
  return `${day}-${MON[Number(m) - 1]}-${y} ${t}.000 queries: info: client @0x7f3729afc098 192.0.2.1#54825 (${name}): query: ${name} IN A +E(0)K (192.0.2.53)`;
}

/** Berlin wall clock → UTC, around both changes of 2026 (the second 02:xx run is the repeated hour's second pass). */
const BERLIN: readonly (readonly [string, string])[] = [
  ['2026-03-29 01:59:30', '2026-03-29 00:59:30'],
  ['2026-03-29 03:00:30', '2026-03-29 01:00:30'],
  ['2026-10-25 02:15:00', '2026-10-25 00:15:00'],
  ['2026-10-25 02:45:00', '2026-10-25 00:45:00'],
  ['2026-10-25 02:05:00', '2026-10-25 01:05:00'],
  ['2026-10-25 02:50:00', '2026-10-25 01:50:00'],
  ['2026-10-25 03:10:00', '2026-10-25 02:10:00'],
];

let n = 0;
function logFile(lines: readonly string[]): string {
  const dir = join(scratch.work, `logs${n++}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'query.log.1');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function query<T>(db: string, sql: string): Promise<T[]> {
  const c = await connectMariadb();
  try {
    await c.query(`USE ${db}`);
    const [rows] = await c.query({ sql, dateStrings: true });
    return rows as T[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  const init = await dnslog(['db', 'init', '--db', scratch.url]);
  expect(init.code, init.stderr).toBe(0);
});

describe('dnslog on MariaDB: UTC inside, local outside', () => {
  it('stores a Berlin log in UTC, into the partitions of the UTC hours, and reports it in Berlin time', async () => {
    const r = await dnslog([
      'ship',
      logFile(BERLIN.map(([w], i) => bindLine(w, `q${i}.example`))),
      '--db',
      scratch.url,
      '--server',
      'ber',
      '--tz',
      'Europe/Berlin',
      '--keep',
      '--min-age',
      '0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rows = await query<{ qtime: string }>(scratch.db, "SELECT qtime FROM dns_queries WHERE server = 'ber' ORDER BY line_no");
    expect(rows.map((x) => x.qtime)).toEqual(BERLIN.map(([, utc]) => `${utc}.000`));
    expect(await query(scratch.db, "SELECT tz FROM dnslog_files WHERE server = 'ber'")).toEqual([{ tz: 'Europe/Berlin' }]);
    // Partition bounds are UTC: hourly partitions made for these hours hold exactly the UTC hour's rows.
    const p = await dnslog(['partitions', '--db', scratch.url, '--json']);
    expect(p.code, p.stderr).toBeLessThan(2);
    const timeline = await dnslog([
      'report',
      'timeline',
      '--per',
      'hour',
      '--json',
      '--db',
      scratch.url,
      '--tz',
      'Europe/Berlin',
      '--since',
      '2026-10-25 00:00',
      '--until',
      '2026-10-26',
      '--server',
      'ber',
    ]);
    expect(timeline.code, timeline.stderr).toBe(0);
    expect(JSON.parse(timeline.stdout)).toEqual([
      { bucket: '2026-10-25T02:00+02:00', server: 'ber', queries: 2 },
      { bucket: '2026-10-25T02:00+01:00', server: 'ber', queries: 2 },
      { bucket: '2026-10-25T03:00+01:00', server: 'ber', queries: 1 },
    ]);
  });

  it('two servers in different zones land in the same bucket for the same instant', async () => {
    expect(
      (
        await dnslog([
          'ship',
          logFile([bindLine('2026-11-25 10:00:30', 'a.example')]),
          '--db',
          scratch.url,
          '--server',
          'b2',
          '--tz',
          'Europe/Berlin',
          '--keep',
          '--min-age',
          '0',
        ])
      ).code,
    ).toBe(0);
    expect(
      (
        await dnslog([
          'ship',
          logFile([bindLine('2026-11-25 04:00:30', 'b.example')]),
          '--db',
          scratch.url,
          '--server',
          'ny',
          '--tz',
          'America/New_York',
          '--keep',
          '--min-age',
          '0',
        ])
      ).code,
    ).toBe(0);
    const t = await dnslog([
      'report',
      'timeline',
      '--per',
      'minute',
      '--json',
      '--db',
      scratch.url,
      '--tz',
      'UTC',
      '--since',
      '2026-11-25 09:00',
      '--until',
      '2026-11-25 09:01',
    ]);
    expect(JSON.parse(t.stdout)).toEqual([
      { bucket: '2026-11-25T09:00Z', server: 'b2', queries: 1 },
      { bucket: '2026-11-25T09:00Z', server: 'ny', queries: 1 },
    ]);
  });
});

describe('a version-4 MariaDB database (wall clock)', () => {
  const old = useScratchDatabase('toolbox_dnslog_utc_old', 'dnslog-utc-old-');

  it('is refused by reports, moved to UTC by db init --assume-tz (the repeated hour by line order, rollups recounted), once', async () => {
    expect((await dnslog(['db', 'init', '--db', old.url])).code).toBe(0);
    // What version 4 stored: the wall clock as written (shipped here as UTC: nothing moves), no tz column.
    const r = await dnslog([
      'ship',
      logFile(BERLIN.map(([w], i) => bindLine(w, `q${i}.example`))),
      '--db',
      old.url,
      '--server',
      'ber',
      '--tz',
      'UTC',
      '--keep',
      '--min-age',
      '0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const c = await connectMariadb();
    try {
      await c.query(`USE ${old.db}`);
      await c.query('ALTER TABLE dnslog_files DROP COLUMN tz');
      await c.query("UPDATE dnslog_meta SET value = '4' WHERE name = 'schema_version'");
    } finally {
      await c.end();
    }
    const refused = await dnslog(['report', 'top-names', '--db', old.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/wall clock \(schema before version 5\); run `dnslog db init` on it once/);

    const init = await dnslog(['db', 'init', '--db', old.url, '--assume-tz', 'ber=Europe/Berlin']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('ber: 7 row(s) moved from Europe/Berlin wall-clock time to UTC');
    const rows = await query<{ qtime: string }>(old.db, 'SELECT qtime FROM dns_queries ORDER BY line_no');
    expect(rows.map((x) => x.qtime)).toEqual(BERLIN.map(([, utc]) => `${utc}.000`));
    const buckets = await query<{ bucket: string }>(old.db, 'SELECT bucket FROM dns_rollup_minute ORDER BY bucket');
    expect(buckets.map((x) => x.bucket)).toEqual(BERLIN.map(([, utc]) => `${utc.slice(0, 16)}:00`).sort());
    expect(await query(old.db, 'SELECT tz, first_time, last_time FROM dnslog_files')).toEqual([
      { tz: 'Europe/Berlin', first_time: '2026-03-29 00:59:30.000', last_time: '2026-10-25 02:10:00.000' },
    ]);
    const again = await dnslog(['db', 'init', '--db', old.url, '--assume-tz', 'Asia/Tokyo']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('moved');
    expect((await query<{ qtime: string }>(old.db, 'SELECT qtime FROM dns_queries ORDER BY line_no')).map((x) => x.qtime)).toEqual(
      rows.map((x) => x.qtime),
    );
  });
});
