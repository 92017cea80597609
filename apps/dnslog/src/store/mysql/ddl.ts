/**
 * DDL on a table others are using: `ALTER TABLE … PARTITION` needs an exclusive metadata lock, and
 * while it waits for one every later query on the table — a ship's load included — queues behind
 * it (MariaDB's lock_wait_timeout is a day). So each attempt waits a few seconds only, then steps
 * aside for a growing pause (the queue drains), and says who holds the lock; after `maxSeconds`
 * it gives up with one line, having changed nothing.
 */
import type mysql from 'mysql2/promise';
import { UserError } from '@toolbox/shared';

export interface DdlWait {
  /** Give up after this many seconds of trying (the command's --lock-wait). */
  maxSeconds: number;
  /** Told, once per retry, what the statement waits for. */
  onWait?: (line: string) => void;
}

export const DEFAULT_DDL_WAIT: DdlWait = { maxSeconds: 300 };

/** How long one attempt may wait for the lock, in seconds: what others may queue behind it. */
export const DDL_ATTEMPT_SECONDS = 3;
const MAX_PAUSE_MS = 30_000;
const ER_LOCK_WAIT_TIMEOUT = 1205;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one DDL statement on `conn` with bounded lock waits and back-off (see above). */
export async function runDdl(conn: mysql.Connection, sql: string, label: string, wait: DdlWait = DEFAULT_DDL_WAIT): Promise<void> {
  const started = Date.now();
  let pauseMs = 1000;
  for (;;) {
    const left = wait.maxSeconds - (Date.now() - started) / 1000;
    await conn.query(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.min(DDL_ATTEMPT_SECONDS, Math.ceil(left)))}`);
    try {
      await conn.query(sql);
      return;
    } catch (err) {
      if ((err as { errno?: unknown }).errno !== ER_LOCK_WAIT_TIMEOUT) throw err;
      const table = /^ALTER TABLE (\w+)/i.exec(sql)?.[1] ?? 'the table';
      const holders = await lockHolders(conn).catch(() => 'another session');
      const waited = Math.round((Date.now() - started) / 1000);
      if (waited + pauseMs / 1000 >= wait.maxSeconds) {
        throw new UserError(
          'E_DDL_LOCKED',
          `${label}: gave up after ${waited}s waiting for a metadata lock on ${table}, held by ${holders}; nothing was changed (raise --lock-wait, or end that session)`,
        );
      }
      wait.onWait?.(
        `dnslog: waiting for a metadata lock on ${table}, held by ${holders}; trying again in ${pauseMs / 1000}s (waited ${waited}s of --lock-wait ${wait.maxSeconds}s)`,
      );
      await sleep(pauseMs);
      pauseMs = Math.min(pauseMs * 2, MAX_PAUSE_MS);
    }
  }
}

/**
 * Who else is busy in this database, longest first: sessions running a statement, and sessions
 * holding a transaction open (an idle transaction that read the table keeps its lock). Whether an
 * idle session is inside a transaction is known only with the PROCESS privilege (INNODB_TRX);
 * without it, idle sessions are named as possibly so. A user sees its own sessions, PROCESS all.
 */
async function lockHolders(conn: mysql.Connection): Promise<string> {
  let rows: mysql.RowDataPacket[];
  try {
    [rows] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT p.ID AS id, p.USER AS user, p.COMMAND AS command, p.TIME AS seconds, LEFT(p.INFO, 80) AS info, t.trx_started IS NOT NULL AS inTrx
         FROM information_schema.PROCESSLIST p
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
        WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID() AND (p.COMMAND <> 'Sleep' OR t.trx_started IS NOT NULL)
        ORDER BY p.TIME DESC LIMIT 3`,
    );
  } catch {
    [rows] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT ID AS id, USER AS user, COMMAND AS command, TIME AS seconds, LEFT(INFO, 80) AS info, NULL AS inTrx
         FROM information_schema.PROCESSLIST
        WHERE DB = DATABASE() AND ID <> CONNECTION_ID()
        ORDER BY COMMAND = 'Sleep', TIME DESC LIMIT 3`,
    );
  }
  if (rows.length === 0) return 'a session this user cannot see (one with the PROCESS privilege can)';
  return rows
    .map((r) => {
      const idle = r.command === 'Sleep';
      const what = !idle
        ? `running ${JSON.stringify(String(r.info ?? r.command).replace(/\s+/g, ' '))}`
        : r.inTrx === null
          ? 'idle, perhaps in an open transaction'
          : 'idle in an open transaction';
      return `session ${String(r.id)} (${String(r.user)}, ${what} for ${String(r.seconds)}s)`;
    })
    .join(', ');
}
