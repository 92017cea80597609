import { describe, expect, it } from 'vitest';
import { UserError } from '@toolbox/shared';
import { reopenArgv, rotate, rotatedName, type CommandResult, type RotateHost } from './rotate.js';

/** An in-memory host: files as a set, the commands it was asked to run, reopen results scripted. */
function fakeHost(files: string[], results: CommandResult[] = [{ code: 0, stderr: '' }]) {
  const fs = new Set(files);
  const ran: string[][] = [];
  const locks: string[] = [];
  const host: RotateHost = {
    label: 'ns1',
    exists: (p) => Promise.resolve(fs.has(p)),
    rename(from, to) {
      if (fs.has(to)) return Promise.reject(new Error('exists'));
      fs.delete(from);
      fs.add(to);
      return Promise.resolve();
    },
    run(argv) {
      ran.push([...argv]);
      return Promise.resolve(results.shift() ?? { code: 0, stderr: '' });
    },
    lock(path) {
      locks.push(`take ${path}`);
      return Promise.resolve(() => {
        locks.push(`release ${path}`);
        return Promise.resolve();
      });
    },
  };
  return { host, fs, ran, locks };
}

const now = new Date(Date.UTC(2026, 10, 25, 9, 30, 5));

describe('rotate', () => {
  it('names the rotated file by the time in UTC, as ship expects', () => {
    expect(rotatedName('/var/log/named/query.log', now)).toBe('/var/log/named/query.log.20261125093005');
  });

  it('renames the live log, then runs the reopen command, under the lock', async () => {
    const f = fakeHost(['/l/query.log']);
    const r = await rotate(f.host, { log: '/l/query.log', reopen: ['rndc', 'reconfig'], now });
    expect(r.rotatedTo).toBe('/l/query.log.20261125093005');
    expect([...f.fs]).toEqual(['/l/query.log.20261125093005']);
    expect(f.ran).toEqual([['rndc', 'reconfig']]);
    expect(f.locks).toEqual(['take /l/query.log.rotate.lock', 'release /l/query.log.rotate.lock']);
  });

  it('never overwrites an earlier rotation from the same second', async () => {
    const f = fakeHost(['/l/q.log', '/l/q.log.20261125093005']);
    const r = await rotate(f.host, { log: '/l/q.log', reopen: ['rndc', 'reconfig'], now });
    expect(r.rotatedTo).toBe('/l/q.log.20261125093006');
  });

  it('renames nothing when there is no live log, but still tells named to reopen (repairs a failed earlier reopen)', async () => {
    const f = fakeHost(['/l/q.log.20261125083000']);
    const r = await rotate(f.host, { log: '/l/q.log', reopen: ['rndc', 'reconfig'], now });
    expect(r.rotatedTo).toBeNull();
    expect([...f.fs]).toEqual(['/l/q.log.20261125083000']);
    expect(f.ran).toEqual([['rndc', 'reconfig']]);
  });

  it('tells named again when rndc fails once', async () => {
    const f = fakeHost(
      ['/l/q.log'],
      [
        { code: 1, stderr: 'rndc: connect failed' },
        { code: 0, stderr: '' },
      ],
    );
    const r = await rotate(f.host, { log: '/l/q.log', reopen: ['rndc', 'reconfig'], now });
    expect(r.rotatedTo).toBe('/l/q.log.20261125093005');
    expect(f.ran).toHaveLength(2);
  });

  it('keeps the renamed file and says what to run when rndc keeps failing', async () => {
    const f = fakeHost(
      ['/l/q.log'],
      [
        { code: 1, stderr: 'rndc: connect failed: 127.0.0.1#953: connection refused\n' },
        { code: 1, stderr: 'x' },
      ],
    );
    const err = await rotate(f.host, { log: '/l/q.log', reopen: ['rndc', 'reconfig'], now }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe('E_REOPEN');
    expect((err as UserError).message).toBe(
      "ns1: renamed /l/q.log to /l/q.log.20261125093005 (kept; no line is lost), but 'rndc reconfig' failed (exit 1: x); " +
        "named still writes into /l/q.log.20261125093005 until told to reopen: fix and run 'rndc reconfig' (or kill -HUP named), " +
        'and do not ship /l/q.log.20261125093005 before that',
    );
    expect([...f.fs]).toEqual(['/l/q.log.20261125093005']);
    expect(f.locks.at(-1)).toBe('release /l/q.log.rotate.lock');
  });

  it('splits --rndc into argv without a shell', () => {
    expect(reopenArgv(' rndc  -c /etc/bind/rndc.conf closelogs ')).toEqual(['rndc', '-c', '/etc/bind/rndc.conf', 'closelogs']);
    expect(() => reopenArgv('  ')).toThrow('--rndc: give a command');
  });
});
