/**
 * A private MariaDB for one test file: its own datadir, socket and loopback port, so a test may
 * kill it with SIGKILL and restart it on the same datadir (crash recovery) while the shared server
 * other test files use goes on undisturbed. Grant tables are skipped: any user and password get in,
 * on 127.0.0.1 only.
 *
 *   const db = await createPrivateMariadb(dir, loOnlyWrapper);
 *   await db.start();  …  db.kill();  await db.start();  …  await db.stop();
 *
 * `extraArgs` go at the end of mariadbd's command line, e.g. `--plugin-load-add=ha_spider` for a
 * Spider front (10.11 then creates the mysql.spider_* tables at startup, grant tables skipped or not).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './private-named.js';

const run = promisify(execFile);

export interface PrivateMariadb {
  port: number;
  dir: string;
  /** The running mariadbd's pid (0 when stopped). */
  readonly pid: number;
  /** Starts mariadbd on the datadir (InnoDB recovers what a kill left) and waits until it answers. */
  start(): Promise<void>;
  /** SIGKILL: no shutdown, no flush; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait (SIGKILL after 20 s). Safe to call twice. */
  stop(): Promise<void>;
}

export interface PrivateMariadbOptions {
  /** More mariadbd arguments, after the defaults (a later option overrides an earlier one). */
  extraArgs?: readonly string[];
}

/** mariadb-install-db into `dir/data` (~4 s), on a free port; not started yet. */
export async function createPrivateMariadb(
  dir: string,
  loOnlyWrapper: string,
  options: PrivateMariadbOptions = {},
): Promise<PrivateMariadb> {
  const extraArgs = options.extraArgs ?? [];
  const data = join(dir, 'data');
  // Its own tmpdir: mariadb-install-db runs started side by side with the shared /tmp failed now and
  // then (ERROR 1051 Unknown table 'mysql.tmp_user_sys' after "Could not remove temporary table
  // '/tmp/#sql-temptable-…'"), leaving a datadir without half of the mysql schema.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  try {
    await run(
      loOnlyWrapper,
      [
        'mariadb-install-db',
        '--no-defaults',
        `--datadir=${data}`,
        `--tmpdir=${tmp}`,
        '--user=root',
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
      ],
      { timeout: 120_000 },
    );
  } catch (err) {
    rmSync(data, { recursive: true, force: true });
    throw new Error(`private MariaDB: mariadb-install-db into ${data} failed: ${String(err)}`);
  }
  const port = await freePort();
  const socket = join(dir, 'mysqld.sock');
  let child: ChildProcess | null = null;
  const isRunning = (c: ChildProcess | null): c is ChildProcess => c !== null && c.exitCode === null && c.signalCode === null;
  const exited = (c: ChildProcess) =>
    new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

  const db: PrivateMariadb = {
    port,
    dir,
    get pid() {
      return isRunning(child) ? (child.pid ?? 0) : 0;
    },
    async start() {
      if (isRunning(child)) return;
      rmSync(socket, { force: true });
      const c = spawn(
        loOnlyWrapper,
        [
          '/usr/sbin/mariadbd',
          '--no-defaults',
          '--user=root',
          `--datadir=${data}`,
          `--tmpdir=${tmp}`,
          `--socket=${socket}`,
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--log-error=${join(dir, 'error.log')}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          '--skip-grant-tables',
          '--skip-name-resolve',
          '--local-infile=1',
          '--innodb-buffer-pool-size=256M',
          ...extraArgs,
        ],
        { stdio: 'ignore' },
      );
      child = c;
      await new Promise<void>((resolve, reject) => {
        c.once('spawn', resolve);
        c.once('error', reject);
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping'], { timeout: 5_000 });
          return;
        } catch (err) {
          const exit = c.exitCode ?? c.signalCode;
          if (exit !== null || Date.now() > deadline) {
            await db.stop();
            const why = exit === null ? String(err) : `mariadbd exited (${exit}) before it answered`;
            throw new Error(`private MariaDB on 127.0.0.1:${port} did not start: ${why}; see ${join(dir, 'error.log')}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async kill() {
      const c = child;
      if (!isRunning(c)) return;
      // the lo-only wrapper execs mariadbd: the child's pid is mariadbd's
      c.kill('SIGKILL');
      await exited(c);
    },
    async stop() {
      const c = child;
      if (!isRunning(c)) return;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      await exited(c);
      clearTimeout(timer);
    },
  };
  return db;
}
