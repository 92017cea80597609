import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '@toolbox/shared';
import { ensurePrivateDir, localLockPath, openLockedStore, privateLockDir, serverLockName, sqliteLockName } from './ship-lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-lock-'));
  chmodSync(dir, 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function thrown(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

/** Runs a shell command as nobody (uid 65534), as a local user trying to get in the way would. */
function asNobody(script: string): { status: number | null; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', script], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('where the local lock lives', () => {
  it('is /run/dnslog for root, $XDG_RUNTIME_DIR/dnslog otherwise, and never a guessable name in /tmp', () => {
    expect(privateLockDir(0, {})).toBe('/run/dnslog');
    expect(privateLockDir(1000, { XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/dnslog');
    expect(thrown(() => privateLockDir(1000, {})).code).toBe('E_LOCK_DIR');
    expect(localLockPath('mysql://u@db.example/dnslog', { waitMs: 0, env: {} })).toBeNull();
    expect(localLockPath('sqlite:/x/y.sqlite', { waitMs: 0, env: {}, lock: '/etc/dnslog.lock' })).toBe('/etc/dnslog.lock');
  });

  it('names the SQLite lock after the database file, the same whichever path leads to it', () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(sqliteLockName(join(dir, 'link', 'db.sqlite'))).toBe(sqliteLockName(join(dir, 'real', 'db.sqlite')));
    expect(sqliteLockName(join(dir, 'real', 'db.sqlite'))).toMatch(/^ship-db\.sqlite-[0-9a-f]{16}\.lock$/);
    expect(serverLockName('dnslog')).toBe('dnslog.ship:dnslog');
    expect(serverLockName('d'.repeat(64))).toHaveLength(52);
  });

  it("makes the private directory 0700 and refuses one that is a symlink, a stranger's, or writable by others", () => {
    const uid = process.getuid?.() ?? 0;
    const mine = join(dir, 'dnslog');
    ensurePrivateDir(mine, uid);
    expect(statSync(mine).mode & 0o777).toBe(0o700);
    ensurePrivateDir(mine, uid); // again: fine

    symlinkSync(mine, join(dir, 'linked'));
    expect(thrown(() => ensurePrivateDir(join(dir, 'linked'), uid)).message).toBe(
      `lock directory ${join(dir, 'linked')} is a symbolic link: someone could block or fake the lock; remove it (it is made again, mode 0700) or give --lock FILE`,
    );
    mkdirSync(join(dir, 'theirs'), { mode: 0o700 });
    chownSync(join(dir, 'theirs'), 65534, 65534);
    expect(thrown(() => ensurePrivateDir(join(dir, 'theirs'), uid)).message).toMatch(/ is owned by uid 65534, not \d+: /);
    mkdirSync(join(dir, 'open'));
    chmodSync(join(dir, 'open'), 0o777);
    expect(thrown(() => ensurePrivateDir(join(dir, 'open'), uid)).message).toMatch(/ can be written by others \(mode 777\): /);
  });
});

describe('a non-root user cannot block a root ship on SQLite', () => {
  it('cannot create the lock in the private directory, nor pre-create the directory', async () => {
    if (process.getuid?.() !== 0) return; // needs root to be the victim
    const run = join(dir, 'run'); // stands in for /run: root's, 0755
    mkdirSync(run, { mode: 0o755 });
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const lockPath = localLockPath(db, { waitMs: 0, env: {}, uid: 0, runDir: run }) ?? '';
    // What the old predictable lock beside the database allowed: any user who can write there holds it with PID 1.
    const attempt = asNobody(`echo 1 > '${lockPath}'`);
    expect(attempt.status).not.toBe(0);
    expect(attempt.stderr).toMatch(/Permission denied/);
    const locked = await openLockedStore(db, { waitMs: 0, env: {}, uid: 0, runDir: run });
    await locked.close();

    // A directory made in advance by someone else is refused, not used.
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
    expect(asNobody(`mkdir -m 700 '${shared}/dnslog'`).status).toBe(0);
    await expect(openLockedStore(db, { waitMs: 0, env: {}, uid: 0, runDir: shared })).rejects.toThrow(/is owned by uid 65534, not 0/);
    execFileSync('rm', ['-rf', join(shared, 'dnslog')]);
  });
});
