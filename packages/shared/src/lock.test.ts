import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, parseLockPid } from './lock.js';
import { UserError } from './errors.js';

let dir: string;
let lockPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lock-test-'));
  lockPath = join(dir, 'job.lock');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A PID that is certainly dead: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

function catchError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('expected a UserError');
}

// The child runs the compiled module (Node 20 cannot strip types); turbo builds before testing.
const LOCK_MODULE = new URL('../dist/lock.js', import.meta.url).pathname;

/** Runs a child node process that takes the lock and then runs `then` (JS source). */
function lockingChild(then: string) {
  const script = `
    const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
    acquireLock(${JSON.stringify(lockPath)});
    process.stdout.write('locked\\n');
    ${then}
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function waitForLine(child: ReturnType<typeof lockingChild>, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(line)) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited before '${line}': ${err}`)));
  });
}

function exitOf(child: ReturnType<typeof lockingChild>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

describe('parseLockPid', () => {
  it('reads the first line as a PID and rejects anything else', () => {
    expect(parseLockPid('1234\n')).toBe(1234);
    expect(parseLockPid(' 77 \nextra')).toBe(77);
    expect(parseLockPid('')).toBeNull();
    expect(parseLockPid('0\n')).toBeNull();
    expect(parseLockPid('12a\n')).toBeNull();
    expect(parseLockPid('-5\n')).toBeNull();
  });
});

describe('acquireLock', () => {
  it('creates the lock holding our PID and removes it on release', () => {
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    expect(readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
    expect(existsSync(lockPath)).toBe(false);
    lock.release(); // twice is harmless
  });

  it('refuses a lock held by a live process, naming its PID', () => {
    const live = spawn('sleep', ['30']);
    try {
      writeFileSync(lockPath, `${live.pid}\n`);
      const err = catchError(() => acquireLock(lockPath, { releaseOnExit: false }));
      expect(err.code).toBe('E_LOCKED');
      expect(err.message).toBe(`lock ${lockPath} is held by running process ${live.pid}; wait for it to finish, or stop PID ${live.pid}`);
      expect(readFileSync(lockPath, 'utf8')).toBe(`${live.pid}\n`);
    } finally {
      live.kill();
    }
  });

  it('refuses a second acquisition by the same process', () => {
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    expect(catchError(() => acquireLock(lockPath, { releaseOnExit: false })).code).toBe('E_LOCKED');
    lock.release();
  });

  it('takes over a stale lock whose PID is dead', () => {
    const pid = deadPid();
    writeFileSync(lockPath, `${pid}\n`);
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    expect(readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
  });

  it('takes over an old lock file holding garbage, but not a fresh empty one', () => {
    writeFileSync(lockPath, '');
    // its age is measured against the process clock: set the mtime from that clock too (under a
    // faked clock the file system's own stamp would be real time)
    const fresh = new Date();
    utimesSync(lockPath, fresh, fresh);
    expect(catchError(() => acquireLock(lockPath, { releaseOnExit: false })).message).toMatch(/being taken/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath, old, old);
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    expect(readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
  });

  it('does not remove a lock that another process now owns', () => {
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    writeFileSync(lockPath, '999999\n'); // broken and retaken by someone else meanwhile
    lock.release();
    expect(readFileSync(lockPath, 'utf8')).toBe('999999\n');
  });

  it('asks the injected liveness check about the owner', () => {
    writeFileSync(lockPath, '4242\n');
    const asked: number[] = [];
    const err = catchError(() => acquireLock(lockPath, { releaseOnExit: false, isAlive: (p) => (asked.push(p), true) }));
    expect(asked).toEqual([4242]);
    expect(err.message).toContain('process 4242');
  });

  it('reports an unwritable lock directory clearly', () => {
    const err = catchError(() => acquireLock(join(dir, 'missing', 'x.lock'), { releaseOnExit: false }));
    expect(err.code).toBe('E_LOCK_IO');
    expect(err.message).toContain(join(dir, 'missing', 'x.lock'));
  });
});

describe('release by a real process', () => {
  it('on normal exit', async () => {
    const child = lockingChild('');
    const exited = exitOf(child);
    expect((await exited).code).toBe(0);
    expect(existsSync(lockPath)).toBe(false);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal}, and the process still dies of that signal`, async () => {
      const child = lockingChild('setInterval(() => {}, 1000);');
      const exited = exitOf(child);
      await waitForLine(child, 'locked');
      expect(parseLockPid(readFileSync(lockPath, 'utf8'))).toBe(child.pid);
      child.kill(signal);
      expect(await exited).toEqual({ code: null, signal });
      expect(existsSync(lockPath)).toBe(false);
    });
  }

  it('a second process is refused while the first holds the lock', async () => {
    const holder = lockingChild('setInterval(() => {}, 1000);');
    const exited = exitOf(holder);
    await waitForLine(holder, 'locked');
    const err = catchError(() => acquireLock(lockPath, { releaseOnExit: false }));
    expect(err.message).toContain(`running process ${holder.pid}`);
    holder.kill('SIGKILL'); // no chance to clean up: the lock is left stale
    await exited;
    expect(existsSync(lockPath)).toBe(true);
    const lock = acquireLock(lockPath, { releaseOnExit: false });
    expect(lock.pid).toBe(process.pid);
    lock.release();
  });
});
