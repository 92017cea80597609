import type { BigIntStats } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BlockInfo, SystemState, TargetInfo } from './device.js';
import { assessTarget } from './safety.js';

const block = (over: Partial<BlockInfo> = {}): BlockInfo => ({
  name: 'sdb',
  majMin: '8:16',
  isPartition: false,
  partitions: [{ name: 'sdb1', majMin: '8:17' }],
  sizeBytes: 1 << 30,
  logicalBlockSize: 512,
  rotational: true,
  readOnly: false,
  model: null,
  serial: null,
  backingFile: null,
  holders: [],
  unreadable: [],
  ...over,
});
const target = (over: Partial<TargetInfo> = {}): TargetInfo => ({
  path: '/dev/sdb',
  resolved: '/dev/sdb',
  isSymlink: false,
  kind: 'block',
  statError: null,
  stat: null,
  block: block(),
  sizeBytes: 1 << 30,
  ...over,
});
const system = (over: Partial<SystemState> = {}): SystemState => ({
  mounts: [],
  swaps: [],
  swapIds: new Set(),
  mountedSourceIds: new Map(),
  rootDevices: new Set(['vda']),
  ...over,
});
const codes = (t: TargetInfo, s: SystemState = system()) => assessTarget(t, s).refusals.map((r) => r.code);

describe('assessTarget', () => {
  it('lets an idle whole disk through with no refusal', () => {
    expect(assessTarget(target(), system())).toEqual({ refusals: [], warnings: [] });
  });

  it('refuses a disk one of whose partitions is mounted, matched by device number and not by name', () => {
    const s = system({ mounts: [{ majMin: '8:17', mountPoint: '/srv', fsType: 'ext4', source: '/dev/disk/by-label/x' }] });
    expect(assessTarget(target(), s).refusals).toEqual([
      { code: 'E_MOUNTED', reason: '/dev/sdb is mounted: sdb1 on /srv (unmount first)' },
    ]);
  });

  it('refuses a disk mounted under an anonymous st_dev (btrfs) through the mount source', () => {
    expect(codes(target(), system({ mountedSourceIds: new Map([['8:17', '/data']]) }))).toEqual(['E_MOUNTED']);
  });

  it('refuses active swap, holders, the root filesystem and read-only devices', () => {
    expect(codes(target(), system({ swapIds: new Set(['8:16']) }))).toEqual(['E_SWAP']);
    expect(assessTarget(target({ block: block({ holders: ['dm-0 (on sdb1)'] }) }), system()).refusals[0]?.reason).toBe(
      '/dev/sdb is held by dm-0 (on sdb1) (LVM, dm-crypt or md: deactivate it first)',
    );
    expect(codes(target(), system({ rootDevices: new Set(['dm-0', 'sdb1', 'sdb']) }))).toEqual(['E_ROOTFS']);
    expect(codes(target({ block: block({ readOnly: true }) }))).toEqual(['E_READONLY']);
  });

  it('refuses directories, character devices and missing paths with the path in the reason', () => {
    expect(assessTarget(target({ path: '/tmp', resolved: '/tmp', kind: 'directory', block: null }), system()).refusals).toEqual([
      { code: 'E_NOT_TARGET', reason: '/tmp is a directory; wipe overwrites a block device or a regular file' },
    ]);
    expect(codes(target({ path: '/dev/null', kind: 'char', block: null }))).toEqual(['E_NOT_TARGET']);
    expect(codes(target({ kind: 'missing', statError: 'ENOENT', block: null }))).toEqual(['E_NOT_FOUND']);
    expect(codes(target({ kind: 'missing', statError: 'EACCES', block: null }))).toEqual(['E_PERM']);
  });

  it('follows a /dev link to a disk but refuses a link to a file, showing where it resolves', () => {
    expect(codes(target({ path: '/dev/disk/by-id/ata-X', isSymlink: true }))).toEqual([]);
    const r = assessTarget(
      target({ path: '/tmp/link', resolved: '/home/me/important.db', isSymlink: true, kind: 'file', block: null }),
      system(),
    );
    expect(r.refusals).toEqual([
      {
        code: 'E_SYMLINK',
        reason: '/tmp/link is a symlink to /home/me/important.db; give the resolved path if that is really what you mean',
      },
    ]);
  });

  it('refuses an active swap file by device and inode', () => {
    const stat = { dev: 2049n, ino: 12n } as unknown as BigIntStats;
    expect(codes(target({ kind: 'file', block: null, stat }), system({ swapIds: new Set(['2049:12']) }))).toEqual(['E_SWAP']);
  });

  it('warns that overwriting flash is Clear, not Purge, naming the sanitize commands', () => {
    const w = assessTarget(target({ block: block({ rotational: false }) }), system()).warnings;
    expect(w).toHaveLength(1);
    expect(w[0]).toContain('NIST SP 800-88 "Clear", not "Purge"');
    expect(w[0]).toContain('nvme sanitize');
  });
});

describe('an unreadable sysfs fails closed', () => {
  it('refuses a disk whose holders or size could not be read, naming what', () => {
    const a = assessTarget(target({ block: block({ unreadable: ['sdb/holders: EACCES'] }) }), system());
    expect(a.refusals).toEqual([
      {
        code: 'E_SYSFS',
        reason: '/dev/sdb: cannot read sdb/holders: EACCES in /sys/class/block: whether it is held or how large it is cannot be told',
      },
    ]);
  });
});
