/**
 * Files are checked like devices: is the file the backing store of an attached loop device (wiping it
 * destroys a file system under the kernel), is it open for writing by another process (a running VM's
 * image), and does its file system overwrite in place at all (copy-on-write, log-structured, network
 * and overlay file systems put new bytes elsewhere and leave the old ones). IO at the edges here; the
 * verdicts are pure.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileId, findFileUsers, type FileUser } from '@toolbox/shared/cli';
import { readText } from './device.js';

export interface FileUse {
  /** Loop devices (kernel names) whose backing file is this file. */
  loops: string[];
  /** Other processes holding it open. */
  users: FileUser[];
}

/**
 * Who uses these files (by `dev:ino`): attached loop devices and other processes' descriptors.
 * Reads /sys/block/loop and /proc; what it cannot read (a process that exits meanwhile) is skipped.
 */
export async function findFileUse(
  ids: Set<string>,
  selfPid = process.pid,
  sys = '/sys/block',
  proc = '/proc',
): Promise<Map<string, FileUse>> {
  const out = new Map<string, FileUse>();
  const entry = (id: string): FileUse => {
    let e = out.get(id);
    if (!e) {
      e = { loops: [], users: [] };
      out.set(id, e);
    }
    return e;
  };
  if (ids.size === 0) return out;
  const loops = (await fsp.readdir(sys).catch(() => [] as string[])).filter((n) => /^loop\d+$/.test(n));
  await Promise.all(
    loops.map(async (name) => {
      const backing = await readText(path.join(sys, name, 'loop/backing_file'));
      if (!backing) return;
      const st = await fsp.stat(backing.replace(/ \(deleted\)$/, ''), { bigint: true }).catch(() => null);
      if (st && ids.has(fileId(st))) entry(fileId(st)).loops.push(name);
    }),
  );
  // The /proc scan is shared with dnslog (a log still being written is not shipped).
  for (const [id, users] of await findFileUsers(ids, { selfPid, proc })) entry(id).users.push(...users);
  for (const e of out.values()) e.loops.sort();
  return out;
}

/** statfs f_type magic numbers (linux/magic.h and the file systems' own headers). */
const FS_MAGIC: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
  0x3434: 'nilfs2',
  0xca451a4e: 'bcachefs',
  0x6969: 'nfs',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x00c36400: 'ceph',
  0x01021997: '9p',
  0x65735546: 'fuse',
  0x794c7630: 'overlay',
  0x01021994: 'tmpfs',
  0x4d44: 'vfat',
  0x2011bab0: 'exfat',
  0x5346544e: 'ntfs',
  0x7366746e: 'ntfs3',
  0x858458f6: 'ramfs',
};

export function fsTypeName(magic: number | bigint): string {
  const n = Number(magic);
  return FS_MAGIC[n] ?? `unknown (statfs type 0x${n.toString(16)})`;
}

export interface InPlaceVerdict {
  fsType: string;
  guaranteed: boolean;
  why: string | null;
}

const IN_PLACE = new Set(['ext4', 'vfat', 'exfat', 'ntfs', 'ntfs3', 'tmpfs', 'ramfs']);
const COPY_ON_WRITE = new Set(['btrfs', 'zfs', 'bcachefs']);
const LOG_STRUCTURED = new Set(['f2fs', 'nilfs2']);
const REMOTE = new Set(['nfs', 'cifs', 'smb2', 'ceph', '9p', 'fuse']);

/**
 * Does overwriting a file on this file system reach the blocks that held its old data?
 * `sharedExtents`: whether filefrag saw an extent shared with another file (reflink), or null when
 * unknown.
 */
export function inPlaceVerdict(fsType: string, sharedExtents: boolean | null): InPlaceVerdict {
  const no = (why: string): InPlaceVerdict => ({ fsType, guaranteed: false, why });
  if (COPY_ON_WRITE.has(fsType))
    return no(`${fsType} is copy-on-write: new bytes go to new blocks, the old ones (and snapshots) keep the data`);
  if (LOG_STRUCTURED.has(fsType))
    return no(`${fsType} is log-structured: new bytes are appended elsewhere, the old blocks keep the data until cleaned`);
  if (REMOTE.has(fsType)) return no(`${fsType}: another machine or process decides where the bytes land`);
  if (fsType === 'overlay') return no('overlay: writing copies the file up to the upper layer; the lower layer keeps the old data');
  if (fsType === 'xfs') {
    if (sharedExtents === true)
      return no('xfs: the file shares extents with a reflinked copy; writing unshares them and the copy keeps the old data');
    if (sharedExtents === null)
      return no('xfs may share extents with reflinked copies, and filefrag could not tell whether this file does');
    return { fsType, guaranteed: true, why: null };
  }
  if (IN_PLACE.has(fsType)) return { fsType, guaranteed: true, why: null };
  return no(`${fsType}: not known to overwrite in place`);
}

/** Whether `filefrag -v` lists an extent flagged "shared"; null when filefrag is missing or fails. */
export function sharedExtents(file: string): Promise<boolean | null> {
  return new Promise((resolve) => {
    execFile('filefrag', ['-v', '--', file], { timeout: 10_000, maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return resolve(null);
      resolve(/\bshared\b/.test(stdout));
    });
  });
}

/** The in-place verdict of a file, from statfs (and filefrag on XFS). */
export async function inPlaceOf(file: string): Promise<InPlaceVerdict> {
  const st = await fsp.statfs(file, { bigint: true });
  const fsType = fsTypeName(st.type);
  return inPlaceVerdict(fsType, fsType === 'xfs' ? await sharedExtents(file) : false);
}
