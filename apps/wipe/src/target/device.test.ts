import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { majMinOf, parseBlkidExport, parseMountinfo, parseSwaps, readBlockInfo, underlyingDevices } from './device.js';
import { fakeSysBlock } from '../testing/fake-sysfs.js';

const MOUNTINFO = `22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
98 22 7:3 / /mnt/my\\040disk rw,relatime shared:50 - ext4 /dev/loop3 rw
99 22 0:45 / /data rw shared:51 master:3 - btrfs /dev/sdb2 rw,space_cache
100 22 0:22 / /proc rw - proc proc rw
`;

describe('parsers', () => {
  it('reads mountinfo by device number, with escaped mount points and optional fields', () => {
    const m = parseMountinfo(MOUNTINFO);
    expect(m).toHaveLength(4);
    expect(m[1]).toEqual({ majMin: '7:3', mountPoint: '/mnt/my disk', fsType: 'ext4', source: '/dev/loop3' });
    expect(m[2]).toEqual({ majMin: '0:45', mountPoint: '/data', fsType: 'btrfs', source: '/dev/sdb2' });
  });

  it('reads /proc/swaps without its header', () => {
    const s = parseSwaps(
      'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/loop1                              partition\t65532\t\t0\t\t-2\n/swap\\040file file 1024 0 -3\n',
    );
    expect(s).toEqual([
      { filename: '/dev/loop1', type: 'partition' },
      { filename: '/swap file', type: 'file' },
    ]);
  });

  it('decodes dev_t as the kernel encodes it, including minors above 255', () => {
    expect(majMinOf(0x0703n)).toBe('7:3');
    expect(majMinOf((259n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n))).toBe('259:300');
  });

  it('reads blkid export pairs', () => {
    expect(parseBlkidExport('DEVNAME=/dev/loop0\nUUID=ab-cd\nTYPE=ext4\nUSAGE=filesystem\n')).toMatchObject({
      TYPE: 'ext4',
      UUID: 'ab-cd',
    });
  });
});

describe('sysfs readers', () => {
  let root = '';
  afterEach(() => {
    if (root) rmSync(path.dirname(root), { recursive: true, force: true });
  });

  it('collects partitions, holders of the disk and of each partition, model, serial and size', async () => {
    root = fakeSysBlock([
      {
        name: 'sdb',
        dev: '8:16',
        sectors: 2048,
        rotational: 0,
        model: 'FakeDisk 9000',
        serial: 'SN123',
        partitions: [
          { name: 'sdb1', dev: '8:17', sectors: 1000, holders: ['dm-0'] },
          { name: 'sdb2', dev: '8:18', sectors: 1000, holders: ['md0'] },
        ],
      },
      { name: 'dm-0', dev: '253:0', sectors: 1000, slaves: ['sdb1'] },
    ]);
    const b = await readBlockInfo('sdb', root);
    expect(b).toMatchObject({
      name: 'sdb',
      majMin: '8:16',
      sizeBytes: 2048 * 512,
      rotational: false,
      model: 'FakeDisk 9000',
      serial: 'SN123',
      isPartition: false,
    });
    expect(b.partitions).toEqual([
      { name: 'sdb1', majMin: '8:17' },
      { name: 'sdb2', majMin: '8:18' },
    ]);
    expect(b.holders).toEqual(['dm-0 (on sdb1)', 'md0 (on sdb2)']);
    const part = await readBlockInfo('sdb1', root);
    expect(part).toMatchObject({ isPartition: true, sizeBytes: 1000 * 512, model: 'FakeDisk 9000', holders: ['dm-0'] });
    expect([...(await underlyingDevices('dm-0', root))].sort()).toEqual(['dm-0', 'sdb', 'sdb1']);
  });
});

describe('sysfs that cannot be read', () => {
  it('lists the entries that exist but could not be read, and only those', async () => {
    const root = fakeSysBlock([{ name: 'sdx', dev: '8:96', sectors: 2048, holders: [] }]);
    const tree = path.dirname(root);
    try {
      const dir = realpathSync(path.join(root, 'sdx'));
      // a holders "directory" that is a file, and a size that is a directory: EACCES is no test as root
      rmSync(path.join(dir, 'holders'), { recursive: true });
      writeFileSync(path.join(dir, 'holders'), '');
      rmSync(path.join(dir, 'size'));
      mkdirSync(path.join(dir, 'size'));
      const b = await readBlockInfo('sdx', root);
      expect(b.unreadable).toEqual(['sdx/holders: ENOTDIR', 'sdx/size: EISDIR']);
      expect(b.holders).toEqual([]);
      const fine = fakeSysBlock([{ name: 'sdy', dev: '8:112', sectors: 2048 }]);
      try {
        expect((await readBlockInfo('sdy', fine)).unreadable).toEqual([]);
      } finally {
        rmSync(path.dirname(fine), { recursive: true, force: true });
      }
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});
