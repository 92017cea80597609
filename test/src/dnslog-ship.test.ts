/**
 * dnslog end to end against the real thing: named writes the query log, dnslog ships it into
 * MariaDB (LOAD DATA) and SQLite, locally and over SSH from the real sshd.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import type mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { tcpQuery, udpQuery, type QueryOptions } from './dns-client.js';
import { mariadbUrl, useScratchDatabase } from './scratch-db.js';
import { services } from './services-env.js';

const svc = services();
const DNSLOG = fileURLToPath(new URL('../../apps/dnslog/bin/dnslog.js', import.meta.url));
const scratch = useScratchDatabase('toolbox_dnslog', 'dnslog-it-');
const { db, url: mysqlUrl, count } = scratch;

// The files here are written just before they are shipped: `--min-age 0`, or ship leaves them for the next run.
const dnslog = (args: string[], timeout = 120_000): Promise<ToolRun> =>
  runTool('dnslog', args[0] === 'ship' ? [...args, '--min-age', '0'] : args, {
    timeoutMs: timeout,
    env: { DNSLOG_DB_PASSWORD: undefined },
  });

/** Moves named's live log aside and makes named reopen it, as `dnslog rotate` will. */
async function rotateLive(to: string): Promise<void> {
  if (existsSync(svc.named.queryLog)) renameSync(svc.named.queryLog, to);
  else writeFileSync(to, '');
  await promisify(execFile)('rndc', ['-c', svc.named.rndcConf, 'reconfig'], { timeout: 10_000 });
}

async function waitForLines(needle: string, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = existsSync(svc.named.queryLog) ? readFileSync(svc.named.queryLog, 'utf8') : '';
    const seen = text.split('\n').filter((l) => l.includes(needle)).length;
    if (seen >= n) return;
    if (Date.now() > deadline) throw new Error(`named logged ${seen} of ${n} queries for ${needle}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Case {
  label: string;
  server: string;
  transport: 'udp' | 'tcp';
  type: 'A' | 'AAAA' | 'MX' | 'TXT';
  opts: QueryOptions;
  expect: { client_ip: string; qtype: string; tcp: number; do_bit: number; cd: number; rd: number };
}

const CASES: Case[] = [
  {
    label: 'udp',
    server: '127.0.0.1',
    transport: 'udp',
    type: 'A',
    opts: { localAddress: '127.0.0.2' },
    expect: { client_ip: '127.0.0.2', qtype: 'A', tcp: 0, do_bit: 0, cd: 0, rd: 1 },
  },
  {
    label: 'tcp',
    server: '127.0.0.1',
    transport: 'tcp',
    type: 'MX',
    opts: { localAddress: '127.0.0.3' },
    expect: { client_ip: '127.0.0.3', qtype: 'MX', tcp: 1, do_bit: 0, cd: 0, rd: 1 },
  },
  {
    label: 'v6',
    server: '::1',
    transport: 'udp',
    type: 'AAAA',
    opts: {},
    expect: { client_ip: '::1', qtype: 'AAAA', tcp: 0, do_bit: 0, cd: 0, rd: 1 },
  },
  {
    label: 'sec',
    server: '127.0.0.1',
    transport: 'udp',
    type: 'TXT',
    opts: { localAddress: '127.0.0.4', dnssec: true, cd: true, rd: false },
    expect: { client_ip: '127.0.0.4', qtype: 'TXT', tcp: 0, do_bit: 1, cd: 1, rd: 0 },
  },
];
const PER_CASE = 40;

describe('dnslog ship: real named → MariaDB', () => {
  const tag = `it${Date.now().toString(36)}`;
  const spool = () => join(scratch.work, 'spool');
  let rotated: string;

  it('loads every query named logged, with the right fields, and moves the file after the commit', async () => {
    mkdirSync(spool(), { recursive: true });
    await rotateLive(join(scratch.work, 'before.log'));
    for (let i = 0; i < PER_CASE; i++) {
      for (const c of CASES) {
        const name = `${c.label}-${i}.${tag}.example.test`;
        await (c.transport === 'tcp' ? tcpQuery : udpQuery)(c.server, svc.named.port, name, c.type, c.opts);
      }
    }
    await waitForLines(`.${tag}.example.test`, PER_CASE * CASES.length);
    rotated = join(spool(), 'query.log.20261125093000');
    await rotateLive(rotated);

    const r = await dnslog(['ship', join(spool(), 'query.log.*'), '--db', mysqlUrl, '--server', 'ns-it', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { totals: { loaded: number; rows: number; rejects: number } };
    expect(report.totals).toMatchObject({ loaded: 1, rows: PER_CASE * CASES.length, rejects: 0 });

    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ? AND qname LIKE ?', ['ns-it', `%.${tag}.example.test`])).toBe(
      PER_CASE * CASES.length,
    );
    for (const c of CASES) {
      const [rows] = await scratch.conn.query<mysql.RowDataPacket[]>(
        'SELECT client_ip, qtype, tcp, do_bit, cd, rd, qclass, dest_ip, COUNT(*) AS n, MIN(client_port) > 0 AS has_port, MIN(qtime) > NOW() - INTERVAL 1 DAY AS recent FROM dns_queries WHERE qname LIKE ? GROUP BY client_ip, qtype, tcp, do_bit, cd, rd, qclass, dest_ip',
        [`${c.label}-%.${tag}.example.test`],
      );
      expect(rows, c.label).toEqual([{ ...c.expect, qclass: 'IN', dest_ip: c.server, n: PER_CASE, has_port: 1, recent: 1 }]);
    }
    expect(existsSync(rotated)).toBe(false);
    expect(existsSync(join(spool(), 'old', 'query.log.20261125093000'))).toBe(true);
    // the table is RANGE-partitioned on the query time from the start, with a catch-all
    expect(
      await count(
        "SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dns_queries' AND PARTITION_METHOD = 'RANGE COLUMNS'",
        [db],
      ),
    ).toBeGreaterThan(2);
  });

  it('a re-run of the same file loads nothing twice', async () => {
    renameSync(join(spool(), 'old', 'query.log.20261125093000'), rotated);
    const r = await dnslog(['ship', rotated, '--db', mysqlUrl, '--server', 'ns-it']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('skipped');
    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE qname LIKE ?', [`%.${tag}.example.test`])).toBe(PER_CASE * CASES.length);
    expect(await count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', ['ns-it'])).toBe(1);
  });
});

/** A real 9.18 line with the given name, for files too big or too hostile to make through named. */
const lineFor = (i: number, name: string) =>
  `25-Nov-2026 09:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')} queries: info: client @0x7f3729afc098 127.0.0.1#${1024 + (i % 60000)} (${name}): query: ${name} IN A +E(0)K (127.0.0.1)`;

describe('dnslog ship: hostile input through LOAD DATA', () => {
  it('keeps quotes, backslashes, \\DDD escapes and 1,000-char names byte for byte, and rejects with their bytes', async () => {
    const names = [
      `o'brien.example`,
      'q\\"uote.example',
      'back\\\\slash.example',
      'tab\\009nl\\010.example',
      'per%cent_und.example',
      `${'a'.repeat(63)}.`.repeat(15) + 'end',
      '\\\\N.example',
    ];
    const junk = Buffer.from('bin\tary\0junk\\N\xff', 'latin1');
    const file = join(scratch.work, 'hostile', 'query.log.1');
    mkdirSync(join(scratch.work, 'hostile'));
    writeFileSync(file, Buffer.concat([Buffer.from(names.map((n, i) => lineFor(i, n)).join('\n') + '\n'), junk, Buffer.from('\n')]));
    const r = await dnslog(['ship', file, '--db', mysqlUrl, '--server', 'ns-hostile', '--keep']);
    expect(r.code).toBe(1); // a rejected line is a finding
    expect(r.stdout).toContain('7 rows, 1 rejected');
    const [rows] = await scratch.conn.query<mysql.RowDataPacket[]>(
      'SELECT qname, qname_rev FROM dns_queries WHERE server = ? ORDER BY line_no',
      ['ns-hostile'],
    );
    expect(rows.map((x): unknown => x.qname)).toEqual(names);
    expect(rows[0]?.qname_rev).toBe(`elpmaxe.neirb'o`);
    const [rej] = await scratch.conn.query<mysql.RowDataPacket[]>(
      'SELECT r.line_no, r.reason, r.line FROM dnslog_rejects r JOIN dnslog_files f ON f.id = r.file_id WHERE f.server = ?',
      ['ns-hostile'],
    );
    expect(rej).toHaveLength(1);
    expect(rej[0]?.line_no).toBe(8);
    expect(Buffer.compare(rej[0]?.line as Buffer, junk)).toBe(0);
  });
});

describe('dnslog ship: a 3 MiB line and a zero-filled tail without a newline', () => {
  const LONG = 3 * 1024 * 1024;
  const TAIL = 5 * 1024 * 1024;
  /** What the reader keeps of an over-long line (line-reader.ts DEFAULT_MAX_LINE_BYTES). */
  const KEPT = 1024 * 1024;
  const GOOD = 40;

  interface RejectRow {
    path: string;
    line_no: number;
    reason: string;
    kept: number;
    line_bytes: number;
    head: Buffer;
  }

  /** Two files: good lines around a 3 MiB line; good lines then megabytes of zeros and no newline. */
  function hostileFiles(dir: string): { long: string; zeros: string; longLine: Buffer } {
    mkdirSync(dir, { recursive: true });
    const good = (from: number) =>
      Array.from({ length: GOOD }, (_, i) => lineFor(from + i, `g${from + i}.long.example.test`)).join('\n') + '\n';
    const start = Buffer.from(lineFor(999, 'big.long.example.test').replace(' IN A ', ' IN TXT '));
    const longLine = Buffer.concat([start, Buffer.alloc(LONG - start.length, 'x')]);
    const long = join(dir, 'query.log.1');
    writeFileSync(long, Buffer.concat([Buffer.from(good(0)), longLine, Buffer.from('\n'), Buffer.from(good(GOOD))]));
    const zeros = join(dir, 'query.log.2');
    writeFileSync(zeros, Buffer.concat([Buffer.from(good(2 * GOOD)), Buffer.alloc(TAIL)]));
    return { long, zeros, longLine };
  }

  function expectRejects(rejects: RejectRow[], files: ReturnType<typeof hostileFiles>): void {
    expect(rejects.map(({ head: _head, ...r }) => r)).toEqual([
      { path: files.long, line_no: GOOD + 1, reason: 'too_long', kept: KEPT, line_bytes: LONG },
      { path: files.zeros, line_no: GOOD + 1, reason: 'too_long', kept: KEPT, line_bytes: TAIL },
    ]);
    expect(Buffer.compare(rejects[0]?.head ?? Buffer.alloc(0), files.longLine.subarray(0, 64))).toBe(0);
    expect(Buffer.compare(rejects[1]?.head ?? Buffer.alloc(0), Buffer.alloc(64))).toBe(0);
  }

  const REJECTS_SQL =
    'SELECT f.path, r.line_no, r.reason, LENGTH(r.line) AS kept, r.line_bytes, SUBSTR(r.line, 1, 64) AS head FROM dnslog_rejects r JOIN dnslog_files f ON f.id = r.file_id WHERE f.server = ? ORDER BY f.path';

  async function shipTwice(files: ReturnType<typeof hostileFiles>, dbUrl: string, server: string): Promise<void> {
    const args = ['ship', files.long, files.zeros, '--db', dbUrl, '--server', server, '--keep', '--json'];
    const r = await dnslog(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // rejected lines are a finding, not a failure
    const report = JSON.parse(r.stdout) as { totals: { loaded: number; failed: number; rows: number; rejects: number } };
    expect(report.totals).toMatchObject({ loaded: 2, failed: 0, rows: 3 * GOOD, rejects: 2 });
    // the second run finds both files in the ledger and loads nothing
    const again = await dnslog(args);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { totals: unknown }).totals).toMatchObject({
      loaded: 0,
      skipped: 2,
      failed: 0,
      rows: 0,
      rejects: 0,
    });
  }

  it('MariaDB: every good line is a row, each long line exactly one reject with its true length; a re-run loads nothing', async () => {
    const files = hostileFiles(join(scratch.work, 'long-mysql'));
    await shipTwice(files, mysqlUrl, 'ns-long');
    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-long'])).toBe(3 * GOOD);
    expect(await count("SELECT COUNT(*) FROM dns_queries WHERE server = ? AND qname LIKE 'g%.long.example.test'", ['ns-long'])).toBe(
      3 * GOOD,
    );
    const [rejects] = await scratch.conn.query<mysql.RowDataPacket[]>(REJECTS_SQL, ['ns-long']);
    expectRejects(rejects as RejectRow[], files);
    expect(await count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', ['ns-long'])).toBe(2);
  }, 120_000);

  it('SQLite: the same', async () => {
    const files = hostileFiles(join(scratch.work, 'long-sqlite'));
    const dbPath = join(scratch.work, 'long.sqlite');
    await shipTwice(files, `sqlite:${dbPath}`, 'ns-long');
    const sqlite = new Database(dbPath, { readonly: true });
    try {
      expect(sqlite.prepare("SELECT COUNT(*) FROM dns_queries WHERE qname LIKE 'g%.long.example.test'").pluck().get()).toBe(3 * GOOD);
      expect(sqlite.prepare('SELECT COUNT(*) FROM dns_queries').pluck().get()).toBe(3 * GOOD);
      expectRejects(sqlite.prepare(REJECTS_SQL).all('ns-long') as RejectRow[], files);
      expect(sqlite.prepare('SELECT COUNT(*) FROM dnslog_files').pluck().get()).toBe(2);
    } finally {
      sqlite.close();
    }
  }, 120_000);
});

describe('dnslog db init: a version-2 MariaDB database', () => {
  it('gets dnslog_rejects.line_bytes (NULL for the rejects already there), once', async () => {
    const v2 = `${db}_v2`;
    const url = mariadbUrl(v2);
    await scratch.conn.query(`CREATE DATABASE ${v2}`);
    try {
      expect((await dnslog(['db', 'init', '--db', url])).code).toBe(0);
      // What a version-2 database looked like: no line_bytes, no done_lines.
      await scratch.conn.query(`ALTER TABLE ${v2}.dnslog_rejects DROP COLUMN line_bytes`);
      await scratch.conn.query(`ALTER TABLE ${v2}.dnslog_files DROP COLUMN done_lines, DROP COLUMN tz`);
      await scratch.conn.query(`UPDATE ${v2}.dnslog_meta SET value = '2' WHERE name = 'schema_version'`);
      await scratch.conn.query(`INSERT INTO ${v2}.dnslog_rejects (file_id, line_no, reason, line) VALUES (9, 1, 'binary', x'00ff')`);
      for (let run = 0; run < 2; run++) {
        const r = await dnslog(['db', 'init', '--db', url]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      expect(await count(`SELECT value FROM ${v2}.dnslog_meta WHERE name = 'schema_version'`)).toBe(5);
      expect(
        await count(
          `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'dnslog_files' AND COLUMN_NAME IN ('done_lines', 'tz')`,
          [v2],
        ),
      ).toBe(2);
      const [rows] = await scratch.conn.query<mysql.RowDataPacket[]>(`SELECT file_id, line_bytes FROM ${v2}.dnslog_rejects`);
      expect(rows).toEqual([{ file_id: 9, line_bytes: null }]);
    } finally {
      await scratch.conn.query(`DROP DATABASE IF EXISTS ${v2}`);
    }
  });
});

describe('dnslog ship: killed in the middle, then re-run', () => {
  const LINES = 200_000;

  async function bigFile(dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'query.log.20261125100000');
    const chunk: string[] = [];
    for (let i = 0; i < LINES; i++) chunk.push(lineFor(i, `n${i}.big.example.test`));
    writeFileSync(path, chunk.join('\n') + '\n');
    return path;
  }

  async function killWhen(args: string[], ready: () => Promise<boolean>): Promise<void> {
    const child = spawn(process.execPath, [DNSLOG, ...args, '--min-age', '0'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 30_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error('the load never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
  }

  it('MariaDB: nothing from the killed run stays, the re-run loads every line exactly once', async () => {
    const path = await bigFile(join(scratch.work, 'big-mysql'));
    const args = ['ship', path, '--db', mysqlUrl, '--server', 'ns-big'];
    await killWhen(args, async () => {
      const [p] = await scratch.conn.query<mysql.RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%'",
      );
      return Number(p[0]?.n) > 0;
    });
    expect(existsSync(path)).toBe(true); // not moved: nothing was committed
    // the server rolls the killed transaction back once it sees the connection drop
    const deadline = Date.now() + 20_000;
    while ((await count("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%'")) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', ['ns-big'])).toBe(0);

    const r = await dnslog(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-big'])).toBe(LINES);
    expect(await count('SELECT COUNT(DISTINCT line_no) FROM dns_queries WHERE server = ?', ['ns-big'])).toBe(LINES);
    // the rollups count the same rows once
    expect(await count('SELECT SUM(queries) FROM dns_rollup_minute WHERE server = ?', ['ns-big'])).toBe(LINES);
    expect(await count('SELECT SUM(queries) FROM dns_rollup_names WHERE server = ?', ['ns-big'])).toBe(LINES);
    expect(existsSync(path)).toBe(false);
  }, 180_000);

  it('SQLite: the same', async () => {
    const path = await bigFile(join(scratch.work, 'big-sqlite'));
    const dbPath = join(scratch.work, 'big.sqlite');
    const args = ['ship', path, '--db', `sqlite:${dbPath}`, '--server', 'ns-big'];
    // the WAL grows as soon as rows are being written inside the open transaction
    await killWhen(args, () => Promise.resolve(existsSync(`${dbPath}-wal`) && statSync(`${dbPath}-wal`).size > 1_000_000));
    expect(existsSync(path)).toBe(true);
    const r = await dnslog(args);
    expect(r.code).toBe(0);
    const sqlite = new Database(dbPath, { readonly: true });
    try {
      expect(sqlite.prepare('SELECT COUNT(*) FROM dns_queries').pluck().get()).toBe(LINES);
      expect(sqlite.prepare('SELECT COUNT(DISTINCT line_no) FROM dns_queries').pluck().get()).toBe(LINES);
      expect(sqlite.prepare('SELECT SUM(queries) FROM dns_rollup_clients').pluck().get()).toBe(LINES);
      expect(sqlite.prepare('SELECT COUNT(*) FROM dnslog_files').pluck().get()).toBe(1);
    } finally {
      sqlite.close();
    }
  }, 180_000);
});

describe('dnslog ship over SSH from the real sshd', () => {
  const sshArgs = ['--ssh-user', svc.sshd.user, '--ssh-key', svc.sshd.privateKey, '--known-hosts', svc.sshd.knownHosts];
  const url = (dir: string, port = svc.sshd.port) => `ssh://${svc.sshd.user}@${svc.sshd.host}:${port}${dir}/query.log.*`;

  it('streams the rotated files (plain and gzip), never the live log, and moves them remotely after the commit', async () => {
    const dir = join(scratch.work, 'remote');
    mkdirSync(dir);
    writeFileSync(join(dir, 'query.log'), `${lineFor(0, 'live.example')}\n`);
    writeFileSync(join(dir, 'query.log.1'), [1, 2, 3].map((i) => lineFor(i, `r${i}.example`)).join('\n') + '\n');
    const { gzipSync } = await import('node:zlib');
    writeFileSync(join(dir, 'query.log.2.gz'), gzipSync(`${lineFor(4, 'gz.example')}\n`));
    const dbPath = join(scratch.work, 'ssh.sqlite');
    const r = await dnslog(['ship', url(dir), '--db', `sqlite:${dbPath}`, ...sshArgs]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const sqlite = new Database(dbPath, { readonly: true });
    try {
      expect(sqlite.prepare('SELECT server, qname FROM dns_queries ORDER BY qname').all()).toEqual([
        { server: svc.sshd.host, qname: 'gz.example' },
        { server: svc.sshd.host, qname: 'r1.example' },
        { server: svc.sshd.host, qname: 'r2.example' },
        { server: svc.sshd.host, qname: 'r3.example' },
      ]);
    } finally {
      sqlite.close();
    }
    expect(readdirSync(dir).sort()).toEqual(['old', 'query.log']);
    expect(readdirSync(join(dir, 'old')).sort()).toEqual(['query.log.1', 'query.log.2.gz']);
  });

  it('refuses a host whose key does not match, ships the other host, and moves nothing it did not commit', async () => {
    const dir = join(scratch.work, 'remote2');
    mkdirSync(dir);
    writeFileSync(join(dir, 'query.log.1'), `${lineFor(1, 'x.example')}\n`);
    const dbPath = join(scratch.work, 'ssh2.sqlite');
    const bad = [
      '--ssh-user',
      svc.sshd.user,
      '--ssh-key',
      svc.sshd.privateKey,
      '--host-key-fingerprint',
      'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ];
    const r1 = await dnslog(['ship', url(dir), '--db', `sqlite:${dbPath}`, ...bad]);
    expect(r1.code).toBe(2);
    expect(r1.stderr.trim().split('\n')).toHaveLength(1);
    expect(r1.stderr).toMatch(/^dnslog: ssh:\/\/.*host key/i);
    expect(existsSync(join(dir, 'query.log.1'))).toBe(true);

    // one server down (nothing listens on the port), one up: the up one is shipped
    const down = url(join(scratch.work, 'nowhere'), 1);
    const r2 = await dnslog(['ship', down, url(dir), '--db', `sqlite:${dbPath}`, ...sshArgs]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^dnslog: ssh:\/\/.*:1\/.*refused/m);
    expect(r2.stdout).toContain('loaded');
    expect(existsSync(join(dir, 'old', 'query.log.1'))).toBe(true);
  });
});
