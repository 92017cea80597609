/**
 * What a target is: pure parsers of /proc/self/mountinfo, /proc/swaps and sysfs values, and thin
 * readers that gather them for one path. Nothing here decides; safety.ts does.
 */
import { execFile } from 'node:child_process';
import { promises as fsp, type BigIntStats } from 'node:fs';
import path from 'node:path';

export interface MountEntry {
  majMin: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Undoes the kernel's octal escapes (\040 for a space) in mountinfo and swaps fields. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 3) continue;
    out.push({
      majMin: f[2] ?? '',
      mountPoint: unescapeOctal(f[4] ?? ''),
      fsType: f[dash + 1] ?? '',
      source: unescapeOctal(f[dash + 2] ?? ''),
    });
  }
  return out;
}

export interface SwapEntry {
  filename: string;
  type: string;
}

export function parseSwaps(text: string): SwapEntry[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return { filename: unescapeOctal(f[0] ?? ''), type: f[1] ?? '' };
    });
}

/** Linux dev_t → "major:minor" (the kernel's new_encode_dev layout). */
export function majMinOf(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** `blkid -p -o export` output → its KEY=VALUE pairs. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export interface Partition {
  name: string;
  majMin: string;
}

export interface BlockInfo {
  /** Kernel name: loop0, sda, nvme0n1p2. */
  name: string;
  majMin: string;
  isPartition: boolean;
  partitions: Partition[];
  sizeBytes: number;
  logicalBlockSize: number;
  /** null when sysfs does not say. */
  rotational: boolean | null;
  readOnly: boolean;
  model: string | null;
  serial: string | null;
  backingFile: string | null;
  /** "dm-0" or "md0 (on sda1)": every holder of the device or of one of its partitions. */
  holders: string[];
  /** sysfs entries that exist but could not be read ("holders: EACCES"): what they would tell is unknown. */
  unreadable: string[];
}

export type TargetKind = 'block' | 'file' | 'directory' | 'char' | 'other' | 'missing';

export interface TargetInfo {
  /** As given. */
  path: string;
  /** After following symlinks. */
  resolved: string;
  isSymlink: boolean;
  kind: TargetKind;
  /** The error that made kind 'missing' (ENOENT, EACCES, ELOOP…). */
  statError: string | null;
  stat: BigIntStats | null;
  block: BlockInfo | null;
  sizeBytes: number;
}

export const SYS_BLOCK = '/sys/class/block';

/** A sysfs or proc file's text, trimmed; null when it cannot be read. */
export async function readText(p: string): Promise<string | null> {
  try {
    return (await fsp.readFile(p, 'utf8')).trim();
  } catch {
    return null;
  }
}

async function readDirNames(p: string): Promise<string[]> {
  try {
    return await fsp.readdir(p);
  } catch {
    return [];
  }
}

/** The kernel name of the block device with this major:minor, from /sys/dev/block. */
export async function blockNameOf(majMin: string, sysRoot = '/sys'): Promise<string | null> {
  try {
    return path.basename(await fsp.readlink(path.join(sysRoot, 'dev/block', majMin)));
  } catch {
    return null;
  }
}

export async function readBlockInfo(name: string, sysBlock = SYS_BLOCK): Promise<BlockInfo> {
  const dir = path.join(sysBlock, name);
  // What decides a refusal (holders, partitions, size) must be read, or be known to be absent:
  // anything else fails closed.
  const unreadable: string[] = [];
  const mustList = async (p: string): Promise<string[]> => {
    try {
      return await fsp.readdir(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (code !== 'ENOENT') unreadable.push(`${path.relative(sysBlock, p)}: ${code}`);
      return [];
    }
  };
  const mustRead = async (p: string): Promise<string | null> => {
    try {
      return (await fsp.readFile(p, 'utf8')).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      unreadable.push(`${path.relative(sysBlock, p)}: ${code}`);
      return null;
    }
  };
  const isPartition = (await readText(path.join(dir, 'partition'))) !== null;
  const partitions: Partition[] = [];
  if (!isPartition) {
    for (const entry of await mustList(dir)) {
      if ((await readText(path.join(dir, entry, 'partition'))) !== null) {
        partitions.push({ name: entry, majMin: (await readText(path.join(dir, entry, 'dev'))) ?? '' });
      }
    }
  }
  const holders: string[] = (await mustList(path.join(dir, 'holders'))).slice();
  for (const part of partitions) {
    for (const h of await mustList(path.join(dir, part.name, 'holders'))) holders.push(`${h} (on ${part.name})`);
  }
  // Partitions inherit queue/ and device/ from their disk.
  const diskDir = isPartition ? path.dirname(await fsp.realpath(dir)) : dir;
  const sectors = Number((await mustRead(path.join(dir, 'size'))) ?? '0');
  const rot = await readText(path.join(diskDir, 'queue/rotational'));
  const serial =
    (await readText(path.join(diskDir, 'device/serial'))) ??
    (await readText(path.join(diskDir, 'serial'))) ??
    (await readText(path.join(diskDir, 'device/wwid')));
  return {
    name,
    majMin: (await readText(path.join(dir, 'dev'))) ?? '',
    isPartition,
    partitions,
    sizeBytes: sectors * 512,
    logicalBlockSize: Number((await readText(path.join(diskDir, 'queue/logical_block_size'))) ?? '512'),
    rotational: rot === null ? null : rot === '1',
    readOnly: (await readText(path.join(dir, 'ro'))) === '1',
    model: (await readText(path.join(diskDir, 'device/model'))) || null,
    serial: serial || null,
    backingFile: (await readText(path.join(diskDir, 'loop/backing_file'))) || null,
    holders,
    unreadable,
  };
}

/** Everything under a block device, following slaves and partition parents: what "/" rests on. */
export async function underlyingDevices(name: string, sysBlock = SYS_BLOCK): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (n: string): Promise<void> => {
    if (seen.has(n)) return;
    seen.add(n);
    const dir = path.join(sysBlock, n);
    if ((await readText(path.join(dir, 'partition'))) !== null) {
      try {
        await visit(path.basename(path.dirname(await fsp.realpath(dir))));
      } catch {
        // a partition whose parent cannot be resolved adds nothing
      }
    }
    for (const s of await readDirNames(path.join(dir, 'slaves'))) await visit(s);
  };
  await visit(name);
  return seen;
}

export async function inspectTarget(p: string): Promise<TargetInfo> {
  const base: TargetInfo = {
    path: p,
    resolved: p,
    isSymlink: false,
    kind: 'missing',
    statError: null,
    stat: null,
    block: null,
    sizeBytes: 0,
  };
  try {
    base.isSymlink = (await fsp.lstat(p)).isSymbolicLink();
    base.resolved = await fsp.realpath(p);
    const st = await fsp.stat(base.resolved, { bigint: true });
    base.stat = st;
    if (st.isBlockDevice()) {
      base.kind = 'block';
      const name = await blockNameOf(majMinOf(st.rdev));
      if (name) {
        base.block = await readBlockInfo(name);
        base.sizeBytes = base.block.sizeBytes;
      }
    } else if (st.isFile()) {
      base.kind = 'file';
      base.sizeBytes = Number(st.size);
    } else if (st.isDirectory()) base.kind = 'directory';
    else if (st.isCharacterDevice()) base.kind = 'char';
    else base.kind = 'other';
  } catch (err) {
    base.statError = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return base;
}

export interface SystemState {
  mounts: MountEntry[];
  swaps: SwapEntry[];
  /** major:minor of every swap area that is a block device; dev:ino of swap files. */
  swapIds: Set<string>;
  /** major:minor of every mounted source that is a block device (covers btrfs' anonymous st_dev). */
  mountedSourceIds: Map<string, string>;
  /** Kernel names of the block devices "/" rests on. */
  rootDevices: Set<string>;
}

export async function readSystemState(): Promise<SystemState> {
  const mounts = parseMountinfo((await readText('/proc/self/mountinfo')) ?? '');
  const swaps = parseSwaps((await readText('/proc/swaps')) ?? '');
  const swapIds = new Set<string>();
  for (const s of swaps) {
    try {
      const st = await fsp.stat(s.filename, { bigint: true });
      swapIds.add(st.isBlockDevice() ? majMinOf(st.rdev) : `${st.dev}:${st.ino}`);
    } catch {
      // a swap path that no longer resolves cannot be ours
    }
  }
  const mountedSourceIds = new Map<string, string>();
  const sources = mounts.filter((m) => m.source.startsWith('/dev/'));
  // One stat per mount, all at once: a host with many mounts should not pay for each in turn.
  const stats = await Promise.all(
    // stale source names are matched by number through majMin instead
    sources.map((m) => fsp.stat(m.source, { bigint: true }).catch(() => null)),
  );
  sources.forEach((m, i) => {
    const st = stats[i];
    if (st?.isBlockDevice()) mountedSourceIds.set(majMinOf(st.rdev), m.mountPoint);
  });
  const rootDevices = new Set<string>();
  const root = mounts.find((m) => m.mountPoint === '/');
  if (root) {
    const ids = [root.majMin];
    for (const [id, mp] of mountedSourceIds) if (mp === '/') ids.push(id);
    for (const id of ids) {
      const name = await blockNameOf(id);
      if (name) for (const d of await underlyingDevices(name)) rootDevices.add(d);
    }
  }
  return { mounts, swaps, swapIds, mountedSourceIds, rootDevices };
}

/** Filesystem and partition-table signatures seen by `blkid -p` (null when blkid is missing). */
export function probeSignatures(p: string): Promise<Record<string, string> | null> {
  return new Promise((resolve) => {
    execFile('blkid', ['-p', '-o', 'export', '--', p], { timeout: 5000 }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') resolve(null);
      else resolve(parseBlkidExport(String(stdout)));
    });
  });
}
