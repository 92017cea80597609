import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useFileHolders } from '@toolbox/shared/testing';
import { fileId } from '@toolbox/shared/cli';
import { findFileUse, fsTypeName, inPlaceVerdict } from './file-use.js';
import { assessTarget } from './safety.js';
import type { SystemState, TargetInfo } from './device.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wipe-use-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const holder = useFileHolders();

describe('who uses a file', () => {
  it('finds another process holding it open for writing, and one only reading it', async () => {
    const f = path.join(dir, 'vm.img');
    writeFileSync(f, 'x');
    const w = await holder(f, '>>');
    const r = await holder(f, '<');
    const id = fileId(statSync(f, { bigint: true }));
    const use = (await findFileUse(new Set([id]))).get(id);
    // the holders are `sleep` now: exec keeps the descriptor
    expect(use?.users.map((u) => [u.pid, u.fd, u.writable, u.comm])).toEqual(
      [
        [w.pid, 3, true, 'sleep'],
        [r.pid, 3, false, 'sleep'],
      ].sort((a, b) => Number(a[0]) - Number(b[0])),
    );
    expect(use?.loops).toEqual([]);
  });

  it('finds nothing for a file nobody else holds (this process is left out)', async () => {
    const f = path.join(dir, 'free.img');
    writeFileSync(f, 'x');
    expect((await findFileUse(new Set([fileId(statSync(f, { bigint: true }))]))).size).toBe(0);
  });
});

describe('refusals and warnings for files', () => {
  const stat = statSync('/', { bigint: true });
  const t: TargetInfo = {
    path: '/img',
    resolved: '/img',
    isSymlink: false,
    kind: 'file',
    statError: null,
    stat,
    block: null,
    sizeBytes: 10,
  };
  const sys: SystemState = { mounts: [], swaps: [], swapIds: new Set(), mountedSourceIds: new Map(), rootDevices: new Set() };

  it('the backing file of a loop device, and a file open for writing, are refused with the reason', () => {
    const a = assessTarget(t, sys, {
      loops: ['loop3'],
      users: [
        { pid: 42, comm: 'qemu-system-x86', fd: 9, writable: true },
        { pid: 42, comm: 'qemu-system-x86', fd: 10, writable: true },
      ],
    });
    expect(a.refusals).toEqual([
      { code: 'E_LOOP_BACKING', reason: '/img is the backing file of loop device /dev/loop3 (losetup -d it first)' },
      { code: 'E_OPEN_FOR_WRITE', reason: '/img is open for writing by PID 42 (qemu-system-x86) (stop it first)' },
    ]);
  });

  it('a reader is a warning only', () => {
    const a = assessTarget(t, sys, { loops: [], users: [{ pid: 7, comm: 'less', fd: 3, writable: false }] });
    expect(a.refusals).toEqual([]);
    expect(a.warnings).toEqual(['/img is open for reading by PID 7 (less)']);
  });
});

describe('in-place overwrite', () => {
  it('names the file system from statfs', () => {
    expect(fsTypeName(0x9123683en)).toBe('btrfs');
    expect(fsTypeName(0xef53)).toBe('ext4');
    expect(fsTypeName(0x12345)).toBe('unknown (statfs type 0x12345)');
  });

  it('guaranteed on ext4 and on XFS without shared extents; not on copy-on-write, log-structured, remote, overlay or unknown', () => {
    expect(inPlaceVerdict('ext4', false)).toEqual({ fsType: 'ext4', guaranteed: true, why: null });
    expect(inPlaceVerdict('xfs', false).guaranteed).toBe(true);
    expect(inPlaceVerdict('xfs', true).why).toMatch(/reflinked copy/);
    expect(inPlaceVerdict('xfs', null).guaranteed).toBe(false);
    for (const fs of ['btrfs', 'zfs', 'f2fs', 'nfs', 'overlay', 'unknown (statfs type 0x1)'])
      expect({ fs, g: inPlaceVerdict(fs, false).guaranteed }).toEqual({ fs, g: false });
  });
});
