import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useFileHolders } from './testing.js';
import { describeFileUsers, fdinfoWritable, fileId, findFileUsers } from './open-files.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'shared-open-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const holder = useFileHolders();

describe('findFileUsers', () => {
  it('finds a writer and a reader of one file in one scan, and nothing for a file nobody holds', async () => {
    const held = path.join(dir, 'held');
    const free = path.join(dir, 'free');
    writeFileSync(held, 'x');
    writeFileSync(free, 'x');
    const w = await holder(held, '>>');
    const r = await holder(held, '<');
    const heldId = fileId(statSync(held, { bigint: true }));
    const found = await findFileUsers(new Set([heldId, fileId(statSync(free, { bigint: true }))]));
    expect([...found.keys()]).toEqual([heldId]);
    expect(found.get(heldId)?.map((u) => [u.pid, u.fd, u.writable, u.comm])).toEqual(
      [
        [w.pid, 3, true, 'sleep'],
        [r.pid, 3, false, 'sleep'],
      ].sort((a, b) => Number(a[0]) - Number(b[0])),
    );
  });

  it('reads the access mode from fdinfo, and names each process once', () => {
    expect(fdinfoWritable('pos:\t0\nflags:\t0100002\nmnt_id:\t25\n')).toBe(true);
    expect(fdinfoWritable('pos:\t0\nflags:\t02000001\n')).toBe(true);
    expect(fdinfoWritable('pos:\t0\nflags:\t0100000\n')).toBe(false);
    expect(fdinfoWritable('garbage')).toBe(false);
    expect(
      describeFileUsers([
        { pid: 42, comm: 'named', fd: 9, writable: true },
        { pid: 42, comm: 'named', fd: 10, writable: true },
        { pid: 7, comm: 'sh', fd: 1, writable: true },
      ]),
    ).toBe('PID 42 (named), PID 7 (sh)');
  });
});
