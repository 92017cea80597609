/**
 * `dnslog partitions` and `dnslog prune` against a real MariaDB: hourly partitions split off the
 * empty catch-all, idempotent; a loud refusal when rows landed in the catch-all; MySQL's partition
 * limit; the lock; a table that is not partitioned; prune that drops only wholly older partitions,
 * archiving and verifying them first.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type mysql from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import { mariadbUrl, useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_parts', 'dnslog-parts-', {
  also: ['toolbox_dnslog_unparted', 'toolbox_dnslog_granularity'],
  dateStrings: true,
});
const { db, url, count } = scratch;
const [oldDb, granularityDb] = scratch.also;
let lock: string;

const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined } });

const p2 = (n: number) => String(n).padStart(2, '0');
/** Wall clock text as dnslog stores it. */
const wall = (d: Date) =>
  `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.000`;
const pname = (d: Date, h = d.getHours()) => `p${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}${p2(h)}`;
const today = new Date(new Date().setHours(0, 0, 0, 0));
/** Local midnight `days` from today, by the calendar (a DST day is 23 or 25 hours long). */
const midnight = (days: number) => new Date(new Date(today).setDate(today.getDate() + days));
/** A local wall-clock hour of a day, by the calendar. */
const atHour = (day: Date, h: number) => new Date(new Date(day).setHours(h, 0, 0, 0));
const yesterday = midnight(-1);
/** Wall-clock hours from today 00:00 to the hour of `d`: the day may have changed since `today`. */
const wallHoursSinceToday = (d: Date) =>
  Math.floor((Date.parse(`${wall(d).replace(' ', 'T')}Z`) - Date.parse(`${wall(today).replace(' ', 'T')}Z`)) / 3_600_000);

const ROLLUPS = ['dns_rollup_minute', 'dns_rollup_names', 'dns_rollup_clients'];

async function partitions(table = 'dns_queries', schema = db): Promise<{ name: string; desc: string }[]> {
  const [rows] = await scratch.conn.query<mysql.RowDataPacket[]>(
    'SELECT PARTITION_NAME AS name, PARTITION_DESCRIPTION AS `desc` FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION',
    [schema, table],
  );
  return rows.map((r) => ({ name: String(r.name), desc: String(r.desc) }));
}

async function insert(times: Date[], qname = 'x.example.com'): Promise<void> {
  let line = Math.floor(Math.random() * 1e9);
  for (const t of times) {
    await scratch.conn.query(
      "INSERT INTO dns_queries (qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no) VALUES (?, 'ns1', '192.0.2.1', ?, ?, 'IN', 'A', '+', 1, 0, 0, 0, 0, 1, ?)",
      [wall(t), qname, [...qname].reverse().join(''), line++],
    );
  }
}

beforeAll(async () => {
  lock = join(scratch.work, 'ship.lock');
  await scratch.conn.query(`CREATE TABLE ${oldDb}.dns_queries (qtime DATETIME(3) NOT NULL, qname VARCHAR(255) NOT NULL)`);
  const init = await dnslog(['db', 'init', '--db', url, '--granularity', 'day']);
  expect(init.code).toBe(0);
  // Start from "partitions until today 00:00": drop the daily partitions db init made from today on.
  const ahead = (await partitions()).filter((p) => p.name.startsWith('p2') && p.name >= pname(today, 0)).map((p) => p.name);
  for (const table of ['dns_queries', ...ROLLUPS])
    for (const name of ahead) await scratch.conn.query(`ALTER TABLE ${table} DROP PARTITION ${name}`);
});

describe('db init and partitions: one granularity', () => {
  /** Each bounded partition after p_start as [name, hours long]. */
  const spans = async (table = 'dns_queries') => {
    const parts = await partitions(table, granularityDb);
    const out: [string, number][] = [];
    for (let i = 1; i < parts.length - 1; i++) {
      const from = Date.parse(`${parts[i - 1]?.desc.replace(/'/g, '').replace(' ', 'T')}Z`);
      const to = Date.parse(`${parts[i]?.desc.replace(/'/g, '').replace(' ', 'T')}Z`);
      out.push([parts[i]?.name ?? '', (to - from) / 3_600_000]);
    }
    return out;
  };
  const gurl = () => mariadbUrl(granularityDb ?? '');

  it('db init lays out hourly partitions by default; partitions --granularity day merges the empty hourly ones after today into days, and back', async () => {
    const glock = join(scratch.work, 'granularity.lock');
    expect((await dnslog(['db', 'init', '--db', gurl(), '--ahead', '48h'])).code).toBe(0);
    const hourly = await spans();
    // From yesterday 00:00, every partition an hour long (a DST change day has 23 or 25 of them).
    expect(hourly[0]?.[0]).toBe(pname(yesterday, 0));
    expect(hourly.every(([, h]) => h === 1)).toBe(true);
    expect(hourly.length).toBeGreaterThanOrEqual(24 + 48);
    for (const table of ROLLUPS)
      expect({ table, parts: await partitions(table, granularityDb) }).toEqual({
        table,
        parts: await partitions('dns_queries', granularityDb),
      });

    // A row in today's hours keeps them hourly; the empty hours from tomorrow on become days.
    await scratch.conn.query(
      `INSERT INTO ${granularityDb}.dns_queries (qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no) VALUES (?, 'ns1', '192.0.2.1', 'a.test', 'tset.a', 'IN', 'A', '+', 1, 0, 0, 0, 0, 1, 1)`,
      [wall(new Date())],
    );
    const r = await dnslog(['partitions', '--db', gurl(), '--granularity', 'day', '--ahead', '3d', '--lock', glock]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^reshaped \d+ empty partition\(s\) p\d{10} … p\d{10} to daily ones\n/);
    const daily = await spans();
    const tomorrow = pname(midnight(1), 0);
    expect(daily.filter(([n]) => n < tomorrow).every(([, h]) => h === 1)).toBe(true);
    const after = daily.filter(([n]) => n >= tomorrow);
    expect(after[0]?.[0]).toBe(tomorrow);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.every(([, h]) => h >= 23 && h <= 25)).toBe(true);
    for (const table of ROLLUPS)
      expect({ table, parts: await partitions(table, granularityDb) }).toEqual({
        table,
        parts: await partitions('dns_queries', granularityDb),
      });
    expect(await scratch.count(`SELECT COUNT(*) FROM ${granularityDb}.dns_queries`)).toBe(1);

    // And db init --granularity hour splits the empty days after the current hour into hours again.
    const back = await dnslog(['db', 'init', '--db', gurl(), '--granularity', 'hour', '--ahead', '24h']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const again = await spans();
    expect(again.every(([, h]) => h === 1)).toBe(true);
    expect(again.filter(([n]) => n >= tomorrow).length).toBeGreaterThanOrEqual(3 * 23);
  });
});

describe('dnslog partitions', () => {
  it('splits the empty catch-all into hourly partitions named by their start, up to --ahead; a second run adds nothing', async () => {
    const before = (await partitions()).map((p) => p.name);
    expect(before).toEqual(['p_start', pname(yesterday, 0), 'p_future']);
    const dry = await dnslog(['partitions', '--db', url, '--granularity', 'hour', '--ahead', '3h', '--dry-run', '--lock', lock]);
    expect(dry.code).toBe(0);
    expect((await partitions()).map((p) => p.name)).toEqual(before);

    const hourBefore = wallHoursSinceToday(new Date());
    const r = await dnslog(['partitions', '--db', url, '--granularity', 'hour', '--ahead', '3h', '--lock', lock, '--json']);
    const hourAfter = wallHoursSinceToday(new Date());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = await partitions();
    // Hourly partitions from today 00:00 on; late in the evening the last ones are tomorrow's.
    const hourly = after.filter((p) => /^p\d{10}$/.test(p.name) && p.name >= pname(today, 0));
    // From today 00:00 to the current hour plus three ahead, each an hour long, named by its start
    // (the tool read the clock between the two readings here).
    expect([hourBefore + 4, hourAfter + 4]).toContain(hourly.length);
    // named by wall-clock hours: a DST day's missing hour has its partition too, the repeated one just one
    const base = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
    const wallName = (i: number) => `p${new Date(base + i * 3_600_000).toISOString().slice(0, 13).replace(/[-T]/g, '')}`;
    expect(hourly.map((p) => p.name)).toEqual(hourly.map((_, i) => wallName(i)));
    expect(hourly[0]).toEqual({ name: pname(today, 0), desc: `'${wall(new Date(today.getTime() + 3_600_000)).slice(0, 19)}'` });
    expect(after.at(-1)).toEqual({ name: 'p_future', desc: 'MAXVALUE' });
    expect(JSON.parse(r.stdout)).toMatchObject({ catchAllRows: 0, limit: 8192, partitions: after.length });
    // The rollup tables follow, so that prune can drop them a partition at a time too.
    for (const table of ROLLUPS) expect({ table, parts: await partitions(table) }).toEqual({ table, parts: after });

    const againBefore = wallHoursSinceToday(new Date());
    const again = await dnslog(['partitions', '--db', url, '--granularity', 'hour', '--ahead', '3h', '--lock', lock]);
    const againAfter = wallHoursSinceToday(new Date());
    expect(again.code).toBe(0);
    // nothing new, unless the clock passed an hour since the first run (then one more per hour)
    const firstRun = hourly.length - 4;
    const added = Number(/: (\d+) partition\(s\) added;/.exec(again.stdout)?.[1] ?? -1);
    expect([againBefore - firstRun, againAfter - firstRun]).toContain(added);
    expect((await partitions()).length).toBe(after.length + added);
  });

  it('warns loudly and changes nothing when rows landed in the catch-all', async () => {
    const far = new Date(Date.now() + 400 * 86_400_000);
    await insert([far, far]);
    const before = await partitions();
    const r = await dnslog(['partitions', '--db', url, '--ahead', '30d', '--lock', lock]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^dnslog: WARNING: 2 row\(s\) landed in the catch-all partition p_future \(.+\): partitions were not kept ahead of the data\. No partition was added/,
    );
    expect(await partitions()).toEqual(before);
    await scratch.conn.query('DELETE FROM dns_queries WHERE qtime > NOW() + INTERVAL 100 DAY');
  });

  it("stays under MySQL's 8192-partition limit: refuses, adds nothing", async () => {
    const before = await partitions();
    const r = await dnslog(['partitions', '--db', url, '--ahead', '400d', '--lock', lock]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dnslog: dns_queries would have \d+ partitions, over the limit of 8192: prune old data first/);
    expect(await partitions()).toEqual(before);
  });

  it('takes the ship lock: waits for it, then gives up with one line', async () => {
    writeFileSync(lock, `${process.pid}\n`);
    try {
      const r = await dnslog(['partitions', '--db', url, '--lock', lock, '--lock-wait', '1s']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `dnslog: lock ${lock} is held by running process ${process.pid}; wait for it to finish, or stop PID ${process.pid}\n`,
      );
    } finally {
      rmSync(lock, { force: true });
    }
  });

  it('a table that is not partitioned: says so and how to migrate, drops nothing', async () => {
    for (const cmd of [['partitions'], ['prune', '--keep', '1d']]) {
      const r = await dnslog([...cmd, '--db', mariadbUrl(oldDb), '--lock', lock]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^dnslog: mysql:\/\/.+: dns_queries is not partitioned \(made by an older dnslog\); migrate it with ALTER TABLE dns_queries PARTITION BY RANGE COLUMNS \(qtime\)/,
      );
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
  });
});

async function archiveLines(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity })) out.push(l);
  return out;
}

describe('dnslog prune', () => {
  it('archives, verifies and drops only partitions wholly older than the retention; says what it keeps', async () => {
    const old = new Date(yesterday.getTime() - 2 * 86_400_000 + 3_600_000); // in p_start
    const y1 = atHour(yesterday, 5);
    const y2 = new Date(atHour(yesterday, 23).getTime() + 59 * 60_000);
    // today, even a few seconds after midnight
    const recent = new Date(Math.max(Date.now() - 30_000, today.getTime() + 1_000));
    await insert([old, y1, y2, y2]);
    await insert([recent, recent, recent]);
    // The rows went in by hand: count the rollups from them.
    expect((await dnslog(['db', 'rebuild-rollups', '--db', url, '--lock', lock])).code).toBe(0);
    expect(await count('SELECT SUM(queries) FROM dns_rollup_names')).toBe(7);
    // the cutoff falls just after today 00:00 (in seconds: a few seconds after midnight too)
    const keep = `${Math.max(1, Math.floor((Date.now() - today.getTime()) / 1000))}s`;

    const dry = await dnslog(['prune', '--db', url, '--keep', keep, '--dry-run', '--archive', join(scratch.work, 'arch'), '--lock', lock]);
    expect(dry.code).toBe(0);
    expect(dry.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(
        /^would truncate p_start: 1 row\(s\), .*; archive .*\/dns_queries\.p_start\.\d{8}T\d{6}-\d{8}T\d{6}\.\d{8}T\d{9}Z\.jsonl\.gz$/,
      ),
      expect.stringMatching(new RegExp(`^would drop ${pname(yesterday, 0)}: 3 row\\(s\\)`)),
    ]);
    expect(existsSync(join(scratch.work, 'arch'))).toBe(false);
    expect(await count('SELECT COUNT(*) FROM dns_queries')).toBe(7);

    const r = await dnslog(['prune', '--db', url, '--keep', keep, '--archive', join(scratch.work, 'arch'), '--lock', lock, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as {
      actions: { target: string; rows: number; action: string; archive: string; done: boolean }[];
      kept: { rows: number; bytes: number };
    };
    expect(res.actions.map((a) => [a.target, a.action, a.rows, a.done])).toEqual([
      ['p_start', 'truncate', 1, true],
      [pname(yesterday, 0), 'drop', 3, true],
    ]);
    expect(res.kept.bytes).toBeGreaterThan(0);
    const names = (await partitions()).map((p) => p.name);
    expect(names).not.toContain(pname(yesterday, 0));
    expect(names[0]).toBe('p_start');
    // Newer rows untouched, older rows gone, and each archive holds its rows after a header.
    expect(await count('SELECT COUNT(*) FROM dns_queries')).toBe(3);
    const lines = await archiveLines(res.actions[1]?.archive ?? '');
    const header = JSON.parse(lines[0] ?? '{}') as { format: string; rows: number; source: string; columns: string[] };
    expect(header).toMatchObject({ format: 'dnslog-archive', rows: 3, source: pname(yesterday, 0) });
    expect(lines.slice(1).filter((l) => l !== '')).toHaveLength(3);
    const first = JSON.parse(lines[1] ?? '[]') as unknown[];
    expect(first[header.columns.indexOf('qtime')]).toBe(wall(y1));

    // The rollups lost the same partitions, and count what is left.
    for (const table of ROLLUPS) {
      expect({ table, parts: (await partitions(table)).map((p) => p.name) }).toEqual({ table, parts: names });
      expect(await count(`SELECT SUM(queries) FROM ${table}`)).toBe(3);
    }

    const again = await dnslog(['prune', '--db', url, '--keep', keep, '--lock', lock]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/: kept ~\d+ row\(s\), .* from .* on \(retention \d+s\)\n$/);
    expect(await count('SELECT COUNT(*) FROM dns_queries')).toBe(3);

    // p_start refills whenever old data arrives; its next archive is a new file beside the first
    // (regression: one fixed name, replaced by every prune).
    const startArchive = res.actions[0]?.archive ?? '';
    await insert([old, old]);
    const third = await dnslog(['prune', '--db', url, '--keep', keep, '--archive', join(scratch.work, 'arch'), '--lock', lock, '--json']);
    expect(third.code, third.stderr).toBe(0);
    const thirdRes = JSON.parse(third.stdout) as { actions: { target: string; rows: number; archive: string }[] };
    expect(thirdRes.actions.map((a) => [a.target, a.rows])).toEqual([['p_start', 2]]);
    const secondStart = thirdRes.actions[0]?.archive ?? '';
    expect(secondStart).not.toBe(startArchive);
    expect(readdirSync(join(scratch.work, 'arch')).sort()).toEqual(
      [basename(startArchive), basename(secondStart), basename(res.actions[1]?.archive ?? '')].sort(),
    );
    expect((await archiveLines(startArchive)).filter((l) => l !== '')).toHaveLength(2);
    expect((await archiveLines(secondStart)).filter((l) => l !== '')).toHaveLength(3);
    expect(statSync(secondStart).mode & 0o777).toBe(0o600);
  });
});
