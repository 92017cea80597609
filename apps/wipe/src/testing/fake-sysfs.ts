/** A throwaway /sys/class/block tree for unit tests of the sysfs readers. */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface FakeDisk {
  name: string;
  dev: string;
  sectors: number;
  rotational?: 0 | 1;
  model?: string;
  serial?: string;
  holders?: string[];
  slaves?: string[];
  partitions?: { name: string; dev: string; sectors: number; holders?: string[] }[];
}

/** Builds devices/<disk>[/<part>] plus class/block symlinks, as the kernel lays them out. */
export function fakeSysBlock(disks: FakeDisk[]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'wipe-sysfs-'));
  const devices = path.join(root, 'devices');
  const classBlock = path.join(root, 'class-block');
  mkdirSync(classBlock, { recursive: true });
  const put = (dir: string, file: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), `${text}\n`);
  };
  for (const d of disks) {
    const dir = path.join(devices, d.name);
    put(dir, 'dev', d.dev);
    put(dir, 'size', String(d.sectors));
    put(dir, 'ro', '0');
    put(dir, 'queue/rotational', String(d.rotational ?? 1));
    put(dir, 'queue/logical_block_size', '512');
    if (d.model) put(dir, 'device/model', d.model);
    if (d.serial) put(dir, 'device/serial', d.serial);
    mkdirSync(path.join(dir, 'holders'), { recursive: true });
    mkdirSync(path.join(dir, 'slaves'), { recursive: true });
    for (const h of d.holders ?? []) writeFileSync(path.join(dir, 'holders', h), '');
    for (const s of d.slaves ?? []) writeFileSync(path.join(dir, 'slaves', s), '');
    symlinkSync(dir, path.join(classBlock, d.name));
    for (const p of d.partitions ?? []) {
      const pdir = path.join(dir, p.name);
      put(pdir, 'dev', p.dev);
      put(pdir, 'size', String(p.sectors));
      put(pdir, 'partition', '1');
      put(pdir, 'ro', '0');
      mkdirSync(path.join(pdir, 'holders'), { recursive: true });
      for (const h of p.holders ?? []) writeFileSync(path.join(pdir, 'holders', h), '');
      symlinkSync(pdir, path.join(classBlock, p.name));
    }
  }
  return classBlock;
}
