/**
 * The lock that keeps `ship`, `partitions`, `prune` and `db rebuild-rollups` on one database apart.
 *
 * - MySQL/MariaDB: `GET_LOCK` on the server, so two hosts shipping into one database exclude each
 *   other too, and no local user can block it (a predictable lock file in /tmp could be created
 *   by anyone, holding PID 1, forever).
 * - SQLite: a lock file in a private directory — `/run/dnslog` (0700) for root,
 *   `$XDG_RUNTIME_DIR/dnslog` otherwise — named after the database file's real path.
 * - `--lock FILE` is taken as well, where given: the administrator's own choice of place.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock, isUserError, UserError, type LockHandle } from '@toolbox/shared';
import { parseDbUrl } from '../store/db-url.js';
import { openStore, type OpenStoreOptions } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export interface ShipLockOptions {
  /** An explicit lock file (`--lock`). */
  lock?: string;
  /** How long to wait for a running holder; 0: fail at once. */
  waitMs: number;
  env: NodeJS.ProcessEnv;
  /** Effective uid (default: this process's). */
  uid?: number;
  /** Where root's private directory goes (tests); default /run. */
  runDir?: string;
  /** How the store is opened. */
  store?: OpenStoreOptions;
}

/** The private directory for local locks: /run/dnslog for root, $XDG_RUNTIME_DIR/dnslog otherwise. */
export function privateLockDir(uid: number, env: NodeJS.ProcessEnv, runDir = '/run'): string {
  if (uid === 0) return join(runDir, 'dnslog');
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'dnslog');
  throw new UserError(
    'E_LOCK_DIR',
    'no private directory for the lock: XDG_RUNTIME_DIR is not set (a non-root user without a login session); set it, or give --lock FILE in a directory only you can write',
  );
}

/**
 * Makes `dir` (0700) if missing and checks it is a real directory owned by `uid` that nobody else
 * can write: anyone who could would be able to block or fake the lock.
 */
export function ensurePrivateDir(dir: string, uid: number): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new UserError('E_LOCK_DIR', `cannot create the lock directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
  const st = lstatSync(dir);
  const problem = st.isSymbolicLink()
    ? 'is a symbolic link'
    : !st.isDirectory()
      ? 'is not a directory'
      : st.uid !== uid
        ? `is owned by uid ${st.uid}, not ${uid}`
        : (st.mode & 0o022) !== 0
          ? `can be written by others (mode ${(st.mode & 0o777).toString(8)})`
          : null;
  if (problem !== null) {
    throw new UserError(
      'E_LOCK_DIR',
      `lock directory ${dir} ${problem}: someone could block or fake the lock; remove it (it is made again, mode 0700) or give --lock FILE`,
    );
  }
}

/** The SQLite lock file's name: one per database file, whichever path names it. */
export function sqliteLockName(dbPath: string): string {
  const abs = resolve(dbPath);
  let dir = dirname(abs);
  try {
    dir = realpathSync(dir);
  } catch {
    // not there yet: the store makes it, and the name stays as written
  }
  const key = createHash('sha256')
    .update(join(dir, basename(abs)))
    .digest('hex')
    .slice(0, 16);
  return `ship-${basename(abs)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 40)}-${key}.lock`;
}

/** GET_LOCK names are at most 64 characters and server-wide: one per database. */
export function serverLockName(database: string): string {
  const name = `dnslog.ship:${database}`;
  return name.length <= 64 ? name : `dnslog.ship:${createHash('sha256').update(database).digest('hex').slice(0, 40)}`;
}

/** The local lock file for `db`: --lock, or for SQLite one in the private directory; none for MySQL. */
export function localLockPath(db: string, o: ShipLockOptions): string | null {
  if (o.lock !== undefined) return o.lock;
  const t = parseDbUrl(db);
  if (t.kind !== 'sqlite') return null;
  const uid = o.uid ?? process.geteuid?.() ?? 0;
  const dir = privateLockDir(uid, o.env, o.runDir);
  ensurePrivateDir(dir, uid);
  return join(dir, sqliteLockName(t.path));
}

/** Takes a lock file, waiting up to `waitMs` for a running holder to finish (cron runs overlap). */
export async function acquireLockWaiting(path: string, waitMs: number): Promise<LockHandle> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireLock(path);
    } catch (err) {
      if (!isUserError(err) || err.code !== 'E_LOCKED' || Date.now() >= deadline) throw err;
      await sleep(Math.min(500, Math.max(1, deadline - Date.now())));
    }
  }
}

export interface LockedStore {
  store: Store;
  /** Releases the server lock, closes the store, then releases the local lock. */
  close(): Promise<void>;
}

/**
 * Opens the store under the lock. The local lock comes first (nothing is opened while another
 * run holds it); the server lock right after connecting.
 */
export async function openLockedStore(db: string, o: ShipLockOptions, open: typeof openStore = openStore): Promise<LockedStore> {
  const path = localLockPath(db, o);
  const local = path === null ? null : await acquireLockWaiting(path, o.waitMs);
  let store: Store | null = null;
  try {
    store = await open(db, o.env, o.store);
    const t = parseDbUrl(db);
    const unlock =
      t.kind === 'mysql' && store.serverLock ? await store.serverLock(serverLockName(t.database), Math.ceil(o.waitMs / 1000)) : null;
    const opened = store;
    return {
      store: opened,
      async close() {
        try {
          await unlock?.();
          await opened.close();
        } finally {
          local?.release();
        }
      },
    };
  } catch (err) {
    await store?.close().catch(() => undefined);
    local?.release();
    throw err;
  }
}
