/**
 * PID lock files. The lock is a file holding the owner's PID, created with O_CREAT|O_EXCL so that
 * exactly one process can create it. A lock whose PID is dead is stale and is taken over; a live
 * one is refused with an error naming the PID. The lock is released on exit, SIGINT and SIGTERM.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { UserError } from './errors.js';

export interface LockOptions {
  /** PID written into the lock (default: this process). */
  pid?: number;
  /** Is this PID alive? Injected by tests; default: signal 0. */
  isAlive?: (pid: number) => boolean;
  /** Release on exit/SIGINT/SIGTERM (default true). */
  releaseOnExit?: boolean;
  /** Clock for the age of an empty lock file (ms since epoch). */
  now?: () => number;
}

export interface LockHandle {
  readonly path: string;
  readonly pid: number;
  /** Removes the lock if it is still ours. Safe to call more than once. */
  release(): void;
}

/** An empty lock file younger than this is being written by its creator, not abandoned. */
const EMPTY_LOCK_GRACE_MS = 5_000;
/** A breaker file older than this belongs to a process that died while breaking a stale lock. */
const BREAKER_STALE_MS = 10_000;
const MAX_ATTEMPTS = 5;

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Parses the PID from a lock file's text; null when it holds none. */
export function parseLockPid(text: string): number | null {
  const first = text.split('\n', 1)[0]?.trim() ?? '';
  if (!/^[1-9][0-9]{0,9}$/.test(first)) return null;
  return Number(first);
}

function tryCreate(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UserError('E_LOCK_IO', `cannot create lock file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readLock(path: string): { text: string; mtimeMs: number } | null {
  try {
    const st = statSync(path);
    return { text: readFileSync(path, 'utf8'), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError('E_LOCK_IO', `cannot read lock file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Removes a stale lock, but only while holding `<path>.break` (itself O_EXCL), and only if the lock
 * still holds the stale text we saw: two processes that both found the same stale lock cannot
 * delete each other's fresh one.
 */
function breakStaleLock(path: string, staleText: string, pid: number, now: () => number): void {
  const breaker = `${path}.break`;
  if (!tryCreate(breaker, pid)) {
    const b = readLock(breaker);
    if (b && now() - b.mtimeMs > BREAKER_STALE_MS) unlinkQuietly(breaker);
    return;
  }
  try {
    const current = readLock(path);
    if (current && current.text === staleText) unlinkQuietly(path);
  } finally {
    unlinkQuietly(breaker);
  }
}

/**
 * Takes the lock at `path` or throws a UserError: E_LOCKED when a live process holds it.
 */
export function acquireLock(path: string, options: LockOptions = {}): LockHandle {
  const pid = options.pid ?? process.pid;
  const isAlive = options.isAlive ?? isProcessAlive;
  const now = options.now ?? Date.now;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (tryCreate(path, pid)) return makeHandle(path, pid, options.releaseOnExit ?? true);
    const seen = readLock(path);
    if (seen === null) continue; // released between our open and our read: try again
    const owner = parseLockPid(seen.text);
    if (owner === null) {
      if (now() - seen.mtimeMs < EMPTY_LOCK_GRACE_MS) {
        throw new UserError('E_LOCKED', `lock ${path} is being taken by another process; try again`);
      }
    } else if (owner === pid || isAlive(owner)) {
      throw new UserError('E_LOCKED', `lock ${path} is held by running process ${owner}; wait for it to finish, or stop PID ${owner}`);
    }
    breakStaleLock(path, seen.text, pid, now);
  }
  throw new UserError('E_LOCKED', `lock ${path}: could not take it after ${MAX_ATTEMPTS} attempts (contended)`);
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function makeHandle(path: string, pid: number, releaseOnExit: boolean): LockHandle {
  let released = false;
  const onExit = (): void => release();
  const onSignal = (signal: NodeJS.Signals): void => {
    release();
    // With our listener gone and no other, re-raising gives the default action: the process ends
    // with the signal's own status, as a shell expects.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  function release(): void {
    if (released) return;
    released = true;
    if (releaseOnExit) {
      process.removeListener('exit', onExit);
      for (const s of SIGNALS) process.removeListener(s, onSignal);
    }
    const current = readLock(path);
    if (current && parseLockPid(current.text) === pid) unlinkQuietly(path);
  }
  if (releaseOnExit) {
    process.on('exit', onExit);
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  return { path, pid, release };
}
