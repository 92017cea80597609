/**
 * Many writers on one MariaDB: partition DDL beside a session that holds the table (a long report
 * in an open transaction). Each attempt waits a few seconds for the metadata lock, then steps aside
 * (others' queries do not queue behind it for long), says who holds the lock, and retries; after
 * --lock-wait it gives up with one line, having changed nothing.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectMariadb, useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_ddl', 'dnslog-ddl-');
const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined } });

let holder: mysql.Connection | null = null;
let bystander: mysql.Connection | null = null;

beforeAll(async () => {
  const init = await dnslog(['db', 'init', '--db', scratch.url, '--ahead', '3h']);
  expect(init.code, init.stderr).toBe(0);
});
afterEach(async () => {
  await holder?.end().catch(() => undefined);
  await bystander?.end().catch(() => undefined);
  holder = bystander = null;
});

/** A session that read dns_queries in a transaction it keeps open: it holds the table's metadata lock. */
async function holdTable(): Promise<mysql.Connection> {
  const c = await connectMariadb();
  await c.query(`USE ${scratch.db}`);
  await c.query('BEGIN');
  await c.query('SELECT COUNT(*) FROM dns_queries');
  return c;
}

describe('partition DDL beside a session holding the table', () => {
  it('waits in bounded attempts saying who holds the lock, lets other queries through meanwhile, and finishes once the lock is free', async () => {
    holder = await holdTable();
    const holderId = holder.threadId;
    const lock = join(scratch.work, 'a.lock');
    const run = dnslog(['partitions', '--db', scratch.url, '--ahead', '30h', '--lock', lock, '--lock-wait', '60s']);
    // While it waits, a new query on the table still gets through within a few seconds: the DDL
    // never waits long enough in one attempt to keep the queue behind it stuck.
    await new Promise((r) => setTimeout(r, 1500));
    bystander = await connectMariadb();
    await bystander.query(`USE ${scratch.db}`);
    const t0 = Date.now();
    await bystander.query('SELECT COUNT(*) FROM dns_queries');
    expect(Date.now() - t0).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 4000));
    await holder.query('COMMIT');
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The holder is named among the sessions idle in this database (which of them holds a transaction
    // only a user with the PROCESS privilege is told).
    const waiting = r.stderr.split('\n').find((l) => l.startsWith('dnslog: waiting')) ?? '';
    expect(waiting).toMatch(
      /^dnslog: waiting for a metadata lock on dns_queries, held by session \d+ .*; trying again in \d+s \(waited \d+s of --lock-wait 60s\)$/,
    );
    expect(waiting).toContain(`session ${holderId} (toolbox, idle, perhaps in an open transaction for `);
    expect(r.stdout).toMatch(/partition\(s\) added/);
  });

  it('gives up after --lock-wait with one line naming the holder; nothing changed', async () => {
    const parts = async (): Promise<number> =>
      scratch.count("SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dns_queries'");
    const before = await parts();
    holder = await holdTable();
    const holderId = holder.threadId;
    const started = Date.now();
    const r = await dnslog([
      'partitions',
      '--db',
      scratch.url,
      '--ahead',
      '60h',
      '--lock',
      join(scratch.work, 'b.lock'),
      '--lock-wait',
      '6s',
    ]);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const last =
      r.stderr
        .split('\n')
        .filter((l) => l !== '')
        .at(-1) ?? '';
    expect(last).toMatch(
      /^dnslog: mysql:\/\/.*: gave up after \d+s waiting for a metadata lock on dns_queries, held by session \d+ .*; nothing was changed \(raise --lock-wait, or end that session\)$/,
    );
    expect(last).toContain(`session ${holderId} (toolbox, idle, perhaps in an open transaction for `);
    expect(await parts()).toBe(before);
  });
});
