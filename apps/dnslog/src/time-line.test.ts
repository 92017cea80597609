/**
 * One time line: rows are stored in UTC whatever zone wrote them, a repeated hour is placed by file
 * order, reports speak the reader's zone, and a database from before is moved to UTC by `db init`.
 * Through the command line, on SQLite (the MariaDB side: test/src/dnslog-utc.test.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from './cli.js';
import { localZone } from './time/zone.js';

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-utc-'));
  db = `sqlite:${join(dir, 'db.sqlite')}`;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = createMemoryIo(env);
  const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A BIND line with print-time (local wall clock, no zone) at `YYYY-MM-DD HH:MM:SS`. */
function bindLine(wall: string, name: string): string {
  const [d, t] = wall.split(' ');
  const [y, m, day] = (d ?? '').split('-');
  return `${day}-${MON[Number(m) - 1]}-${y} ${t}.000 queries: info: client @0x7f3729afc098 192.0.2.1#54825 (${name}): query: ${name} IN A +E(0)K (192.0.2.53)`;
}

/** An ISO 8601 line with its own zone (`print-time iso8601-utc` / `iso8601-tzinfo`). */
function isoLine(iso: string, name: string): string {
  return `${iso} queries: info: client @0x7f3729afc098 192.0.2.1#54825 (${name}): query: ${name} IN A +E(0)K (192.0.2.53)`;
}

function logFile(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function sql<T>(query: string): T[] {
  const d = new Database(join(dir, 'db.sqlite'), { readonly: true });
  try {
    return d.prepare(query).all() as T[];
  } finally {
    d.close();
  }
}

const ship = (path: string, ...more: string[]) => run(['ship', path, '--db', db, '--keep', '--min-age', '0', ...more]);

/** Berlin, around both changes of 2026: 29 March 02:00 CET → 03:00 CEST, 25 October 03:00 CEST → 02:00 CET. */
const BERLIN_LOG: readonly (readonly [string, string])[] = [
  ['2026-03-29 01:59:30', '2026-03-29 00:59:30'],
  ['2026-03-29 03:00:30', '2026-03-29 01:00:30'],
  ['2026-03-29 03:30:00', '2026-03-29 01:30:00'],
  ['2026-10-25 01:30:00', '2026-10-24 23:30:00'],
  ['2026-10-25 02:15:00', '2026-10-25 00:15:00'], // first pass (CEST)
  ['2026-10-25 02:45:00', '2026-10-25 00:45:00'],
  ['2026-10-25 02:05:00', '2026-10-25 01:05:00'], // back 40 minutes: the second pass (CET)
  ['2026-10-25 02:50:00', '2026-10-25 01:50:00'],
  ['2026-10-25 03:10:00', '2026-10-25 02:10:00'],
];

/** New York: 8 March 2026 02:00 EST → 03:00 EDT, 1 November 02:00 EDT → 01:00 EST. */
const NEW_YORK_LOG: readonly (readonly [string, string])[] = [
  ['2026-03-08 01:30:00', '2026-03-08 06:30:00'],
  ['2026-03-08 03:30:00', '2026-03-08 07:30:00'],
  ['2026-07-01 12:00:00', '2026-07-01 16:00:00'],
  ['2026-11-01 01:30:00', '2026-11-01 05:30:00'], // first pass (EDT)
  ['2026-11-01 01:10:00', '2026-11-01 06:10:00'], // second pass (EST)
  ['2026-11-01 03:00:00', '2026-11-01 08:00:00'],
];

describe('UTC inside, local outside', () => {
  it('stores a Berlin log across spring-forward and fall-back in UTC, the repeated hour by file order', async () => {
    const path = logFile(
      'query.log.1',
      BERLIN_LOG.map(([wall], i) => bindLine(wall, `q${i}.example`)),
    );
    const r = await ship(path, '--server', 'ns1', '--tz', 'Europe/Berlin');
    expect(r.err).toBe('');
    expect(r.exit).toBe(0);
    const rows = sql<{ qtime: string; qname: string }>('SELECT qtime, qname FROM dns_queries ORDER BY line_no');
    expect(rows.map((x) => x.qtime)).toEqual(BERLIN_LOG.map(([, utc]) => `${utc}.000`));
    expect(sql<{ tz: string; first_time: string; last_time: string }>('SELECT tz, first_time, last_time FROM dnslog_files')).toEqual([
      { tz: 'Europe/Berlin', first_time: '2026-03-29 00:59:30.000', last_time: '2026-10-25 02:10:00.000' },
    ]);
    // The rollups count UTC minutes: the repeated hour's two passes are two hours.
    expect(
      sql<{ bucket: string; n: number }>(
        "SELECT bucket, SUM(queries) AS n FROM dns_rollup_minute WHERE bucket >= '2026-10-25' GROUP BY bucket",
      ),
    ).toEqual([
      { bucket: '2026-10-25 00:15:00', n: 1 },
      { bucket: '2026-10-25 00:45:00', n: 1 },
      { bucket: '2026-10-25 01:05:00', n: 1 },
      { bucket: '2026-10-25 01:50:00', n: 1 },
      { bucket: '2026-10-25 02:10:00', n: 1 },
    ]);

    // Read back in Berlin: the hour shows twice, each pass with its offset; JSON carries offsets.
    const common = ['--db', db, '--tz', 'Europe/Berlin', '--since', '2026-10-25 00:00', '--until', '2026-10-26'];
    const table = await run(['report', 'timeline', '--per', 'hour', ...common]);
    expect(table.exit).toBe(0);
    const labels = table.out
      .split('\n')
      .filter((l) => /^2026-10-25/.test(l))
      .map((l) => l.slice(0, 23).trim());
    expect(labels).toEqual(['2026-10-25 01:00', '2026-10-25 02:00 +02:00', '2026-10-25 02:00 +01:00', '2026-10-25 03:00']);
    expect(table.out).toMatch(/\(times in Europe\/Berlin, UTC\+0[12]:00 now\)\n$/);
    const json = JSON.parse((await run(['report', 'timeline', '--per', 'hour', '--json', ...common])).out) as {
      bucket: string;
      queries: number;
    }[];
    expect(json).toEqual([
      { bucket: '2026-10-25T01:00+02:00', server: 'ns1', queries: 1 },
      { bucket: '2026-10-25T02:00+02:00', server: 'ns1', queries: 2 },
      { bucket: '2026-10-25T02:00+01:00', server: 'ns1', queries: 2 },
      { bucket: '2026-10-25T03:00+01:00', server: 'ns1', queries: 1 },
    ]);
    // --since in the reader's zone: 02:00 Berlin on 29 March does not exist; 03:00 CEST is 01:00 UTC.
    const search = JSON.parse(
      (
        await run([
          'report',
          'search',
          '--like',
          'q%',
          '--json',
          '--db',
          db,
          '--tz',
          'UTC',
          '--since',
          '2026-03-29 01:00',
          '--until',
          '2026-03-29 02:00',
        ])
      ).out,
    ) as {
      qtime: string;
    }[];
    expect(search.map((x) => x.qtime)).toEqual(['2026-03-29T01:30:00.000Z', '2026-03-29T01:00:30.000Z']);
    const inNewYork = JSON.parse(
      (await run(['report', 'search', '--like', 'q1.%', '--json', '--db', db, '--tz', 'America/New_York'])).out,
    ) as { qtime: string }[];
    expect(inNewYork.map((x) => x.qtime)).toEqual(['2026-03-28T21:00:30.000-04:00']);
    // Days are the reader's: in Berlin, 25 October holds the repeated hour's four lines and two more.
    const days = JSON.parse((await run(['report', 'timeline', '--per', 'day', '--json', '--db', db, '--tz', 'Europe/Berlin'])).out) as {
      bucket: string;
      queries: number;
    }[];
    expect(days).toEqual([
      { bucket: '2026-03-29', server: 'ns1', queries: 3 },
      { bucket: '2026-10-25', server: 'ns1', queries: 6 },
    ]);
  });

  it('two servers in different zones (and lines with their own zone) land in the same bucket for the same instant', async () => {
    // 25 Nov 2026, 09:00:30 UTC: 10:00:30 in Berlin, 04:00:30 in New York, 14:30:30 in Kolkata.
    expect(
      (
        await ship(
          logFile('berlin.log.1', [bindLine('2026-11-25 10:00:30', 'a.example')]),
          '--server',
          'ber',
          '--tz',
          'ber=Europe/Berlin',
          '--tz',
          'UTC',
        )
      ).exit,
    ).toBe(0);
    expect(
      (await ship(logFile('ny.log.1', [bindLine('2026-11-25 04:00:30', 'b.example')]), '--server', 'nyc', '--tz', 'America/New_York')).exit,
    ).toBe(0);
    expect(
      (await ship(logFile('utc.log.1', [isoLine('2026-11-25T09:00:30.000Z', 'c.example')]), '--server', 'utc', '--tz', 'Asia/Tokyo')).exit,
    ).toBe(0);
    expect((await ship(logFile('in.log.1', [isoLine('2026-11-25T14:30:30.250+05:30', 'd.example')]), '--server', 'blr')).exit).toBe(0);
    const minute = JSON.parse((await run(['report', 'timeline', '--per', 'minute', '--json', '--db', db, '--tz', 'UTC'])).out) as unknown[];
    expect(minute).toEqual([
      { bucket: '2026-11-25T09:00Z', server: 'ber', queries: 1 },
      { bucket: '2026-11-25T09:00Z', server: 'blr', queries: 1 },
      { bucket: '2026-11-25T09:00Z', server: 'nyc', queries: 1 },
      { bucket: '2026-11-25T09:00Z', server: 'utc', queries: 1 },
    ]);
    expect(sql<{ server: string; tz: string }>('SELECT server, tz FROM dnslog_files ORDER BY server')).toEqual([
      { server: 'ber', tz: 'Europe/Berlin' },
      { server: 'blr', tz: localZone().name }, // this host's zone: its lines carried their own
      { server: 'nyc', tz: 'America/New_York' },
      { server: 'utc', tz: 'Asia/Tokyo' },
    ]);
    const table = await run(['report', 'servers', '--db', db, '--tz', 'Asia/Kolkata', '--stale', '100000d']);
    expect(table.out).toMatch(/^ber\s+1\s+2026-11-25 14:30:30 /m);
    expect(table.out).toMatch(/\(times in Asia\/(Kolkata|Calcutta), UTC\+05:30 now\)\n$/);
  });

  it('a line more than an hour back is a time_back reject, kept, with one line on stderr and exit 1', async () => {
    const path = logFile('query.log.1', [
      bindLine('2026-11-25 12:00:00', 'a.example'),
      bindLine('2026-11-25 09:30:00', 'b.example'),
      bindLine('2026-11-25 12:00:01', 'c.example'),
    ]);
    const r = await ship(path, '--server', 'ns1', '--tz', 'UTC');
    expect(r.exit).toBe(1);
    expect(r.err).toBe(
      `dnslog: ns1:${path}: 1 line(s) more than an hour before an earlier line (a clock stepped back, or --tz wrong?): kept as time_back rejects\n`,
    );
    expect(sql<{ line_no: number; reason: string }>('SELECT line_no, reason FROM dnslog_rejects')).toEqual([
      { line_no: 2, reason: 'time_back' },
    ]);
    expect(sql<{ n: number }>('SELECT COUNT(*) AS n FROM dns_queries')).toEqual([{ n: 2 }]);
  });

  it('an unknown zone is one clear line and exit 2, before anything is opened', async () => {
    const path = logFile('query.log.1', [bindLine('2026-11-25 12:00:00', 'a.example')]);
    const r = await ship(path, '--server', 'ns1', '--tz', 'Europe/Berlln');
    expect(r.exit).toBe(2);
    expect(r.err).toBe(
      "dnslog: --tz 'Europe/Berlln': not a time zone (give an IANA name like Europe/Berlin, UTC, or an offset like +01:00)\n",
    );
    expect(existsSync(join(dir, 'db.sqlite'))).toBe(false);
    const rep = await run(['report', 'timeline', '--db', db, '--tz', 'Mars/Olympus']);
    expect(rep.exit).toBe(2);
    expect(rep.err).toMatch(/^dnslog: --tz 'Mars\/Olympus': not a time zone/);
  });

  it('db init moves a version-4 database (wall clock) to UTC, the repeated hour by line order; other commands refuse it until then', async () => {
    // What version 4 stored: the wall clock as written (shipped here in UTC, so nothing moves), no tz column.
    const path = logFile(
      'query.log.1',
      BERLIN_LOG.map(([wall], i) => bindLine(wall, `q${i}.example`)),
    );
    expect((await ship(path, '--server', 'ns1', '--tz', 'UTC')).exit).toBe(0);
    expect(
      (
        await ship(
          logFile(
            'other.log.1',
            NEW_YORK_LOG.map(([wall]) => bindLine(wall, 'x.example')),
          ),
          '--server',
          'ns2',
          '--tz',
          'UTC',
        )
      ).exit,
    ).toBe(0);
    const old = new Database(join(dir, 'db.sqlite'));
    old.exec("ALTER TABLE dnslog_files DROP COLUMN tz; UPDATE dnslog_meta SET value = '4' WHERE key = 'schema_version'");
    old.close();

    const report = await run(['report', 'timeline', '--db', db]);
    expect(report.exit).toBe(2);
    expect(report.err).toMatch(/wall clock \(schema before version 5\); run `dnslog db init` on it once/);
    const shipOld = await ship(logFile('new.log.1', [bindLine('2026-11-01 12:00:00', 'y.example')]), '--server', 'ns1');
    expect(shipOld.exit).toBe(2);
    expect(shipOld.err).toMatch(/run `dnslog db init` on it once/);

    const init = await run(['db', 'init', '--db', db, '--assume-tz', 'Europe/Berlin', '--assume-tz', 'ns2=America/New_York']);
    expect(init.err).toBe('');
    expect(init.exit).toBe(0);
    expect(init.out).toContain('ns1: 9 row(s) moved from Europe/Berlin wall-clock time to UTC');
    expect(init.out).toContain('ns2: 6 row(s) moved from America/New_York wall-clock time to UTC');
    const rows = sql<{ qtime: string }>("SELECT qtime FROM dns_queries WHERE server = 'ns1' ORDER BY line_no");
    expect(rows.map((x) => x.qtime)).toEqual(BERLIN_LOG.map(([, utc]) => `${utc}.000`));
    // West of UTC every shift is forward: moved latest first, so that no row is moved twice.
    const ny = sql<{ qtime: string }>("SELECT qtime FROM dns_queries WHERE server = 'ns2' ORDER BY line_no").map((x) => x.qtime);
    expect(ny).toEqual(NEW_YORK_LOG.map(([, utc]) => `${utc}.000`));
    expect(
      sql<{ server: string; tz: string; first_time: string; last_time: string }>(
        'SELECT server, tz, first_time, last_time FROM dnslog_files ORDER BY server',
      ),
    ).toEqual([
      { server: 'ns1', tz: 'Europe/Berlin', first_time: '2026-03-29 00:59:30.000', last_time: '2026-10-25 02:10:00.000' },
      { server: 'ns2', tz: 'America/New_York', first_time: '2026-03-08 06:30:00.000', last_time: '2026-11-01 08:00:00.000' },
    ]);
    // The rollups are counted again from the moved rows.
    const buckets = sql<{ bucket: string }>("SELECT bucket FROM dns_rollup_minute WHERE server = 'ns1' ORDER BY bucket").map(
      (x) => x.bucket,
    );
    expect(buckets).toEqual(BERLIN_LOG.map(([, utc]) => `${utc.slice(0, 16)}:00`).sort());
    // Once only: a second db init moves nothing.
    const again = await run(['db', 'init', '--db', db, '--assume-tz', 'Asia/Tokyo']);
    expect(again.out).not.toContain('moved');
    expect(sql<{ qtime: string }>("SELECT qtime FROM dns_queries WHERE server = 'ns2' ORDER BY line_no").map((x) => x.qtime)).toEqual(ny);
  });
});
