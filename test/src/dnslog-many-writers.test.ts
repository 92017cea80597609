/**
 * Many writers on one MariaDB at once: two ship processes (two name servers' logs, each with its
 * own lock file), a report holding a long read in an open transaction, a report run and a prune,
 * all started together. The server-side ship lock (GET_LOCK) lets one ship load at a time (the
 * other says so and is run again, as cron would); prune's DDL waits in bounded attempts for the
 * report's lock. The end: every line stored exactly once, every file moved once, nobody stuck.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectMariadb, useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_writers', 'dnslog-writers-');
const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 180_000, env: { DNSLOG_DB_PASSWORD: undefined } });

const FILES = 3;
const LINES = 20_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** BIND's own time for `d` (local wall clock): `05-Dec-2026 05:16:26.123`. */
function bindTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getDate())}-${MONTHS[d.getMonth()]}-${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Rotated logs of the last few minutes (newer than prune's cutoff), names shared by both servers. */
function writeLogs(dir: string, server: number): void {
  mkdirSync(dir, { recursive: true });
  const start = Date.now() - 10 * 60_000;
  for (let f = 0; f < FILES; f++) {
    const lines: string[] = [];
    for (let i = 0; i < LINES; i++) {
      const t = bindTime(new Date(start + (f * LINES + i) * 3));
      const name = `h${i % 5000}.example.test`;
      lines.push(
        `${t} queries: info: client @0x7f3729afc098 192.0.2.${1 + (i % 200)}#${1024 + i} (${name}): query: ${name} IN A +E(0)K (192.0.2.${server})`,
      );
    }
    const file = join(dir, `query.log.${f + 1}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(file, old, old);
  }
}

describe('two ships, a long report and a prune on one MariaDB at once', () => {
  it('ends with every line exactly once and every file moved once; no process stuck', async () => {
    const init = await dnslog(['db', 'init', '--db', scratch.url]);
    expect(init.code, init.stderr).toBe(0);
    // Old rows for prune to truncate with p_start (a week ago).
    const weekAgo = new Date(Date.now() - 7 * 86_400_000);
    await scratch.conn.query(
      "INSERT INTO dns_queries (qtime, server, client_ip, qname, qname_rev, qclass, qtype, flags, rd, tcp, do_bit, cd, is_signed, file_id, line_no) VALUES (?, 'old', '192.0.2.1', 'o.test', 'tset.o', 'IN', 'A', '+', 1, 0, 0, 0, 0, 999999, 1)",
      [weekAgo],
    );
    const servers = ['ns-a', 'ns-b'];
    servers.forEach((s, i) => writeLogs(join(scratch.work, s), i + 1));

    // A report holding the table: an open transaction that has read it, for 6 s.
    const reader = await connectMariadb();
    await reader.query(`USE ${scratch.db}`);
    await reader.query('BEGIN');
    await reader.query('SELECT COUNT(*) FROM dns_queries');
    const longRead = new Promise<void>((resolve) =>
      setTimeout(
        () =>
          void reader
            .query('COMMIT')
            .then(() => reader.end())
            .then(resolve, resolve),
        6_000,
      ),
    );

    const shipOnce = (s: string) =>
      dnslog([
        'ship',
        join(scratch.work, s),
        '--db',
        scratch.url,
        '--server',
        s,
        '--lock',
        join(scratch.work, `${s}.lock`),
        '--min-age',
        '0',
        '--json',
      ]);
    const started = Date.now();
    const [first, prune, report] = await Promise.all([
      Promise.all(servers.map(shipOnce)),
      dnslog(['prune', '--db', scratch.url, '--keep', '2h', '--lock', join(scratch.work, 'prune.lock'), '--lock-wait', '2m']),
      dnslog(['report', 'top-names', '--db', scratch.url, '--since', '1h', '--json']),
      longRead,
    ]);
    expect(report.code, report.stderr).toBe(0);
    expect(prune.code, prune.stdout + prune.stderr).toBe(0);
    // A ship that found the other holding the database's lock said so on one line, moved nothing.
    for (const r of first) {
      if (r.code !== 0) expect(r.stderr, r.stdout).toMatch(/is held by connection \d+ .*\(another dnslog ship, prune or partitions run\)/);
    }
    // Cron would run them again: until every file is shipped (a few rounds at most).
    for (
      let round = 0;
      round < 6 && servers.some((s) => readdirSync(join(scratch.work, s)).some((n) => n.startsWith('query.log')));
      round++
    ) {
      for (const r of await Promise.all(servers.map(shipOnce))) {
        if (r.code !== 0) expect(r.stderr, r.stdout).toMatch(/is held by connection \d+/);
      }
    }
    expect(Date.now() - started).toBeLessThan(170_000);

    for (const s of servers) {
      expect(readdirSync(join(scratch.work, s))).toEqual(['old']);
      expect(readdirSync(join(scratch.work, s, 'old')).sort()).toEqual(Array.from({ length: FILES }, (_, f) => `query.log.${f + 1}`));
      expect(await scratch.count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', [s])).toBe(FILES * LINES);
      expect(await scratch.count('SELECT COUNT(*) FROM (SELECT DISTINCT file_id, line_no FROM dns_queries WHERE server = ?) d', [s])).toBe(
        FILES * LINES,
      );
      expect(await scratch.count('SELECT COUNT(*) FROM dnslog_files WHERE server = ?', [s])).toBe(FILES);
      expect(await scratch.count('SELECT COALESCE(SUM(queries), 0) FROM dns_rollup_names WHERE server = ?', [s])).toBe(FILES * LINES);
    }
    expect(await scratch.count("SELECT COUNT(*) FROM dns_queries WHERE server = 'old'")).toBe(0);
    expect(existsSync(join(scratch.work, 'ns-a', 'query.log.1'))).toBe(false);
  }, 200_000);
});
