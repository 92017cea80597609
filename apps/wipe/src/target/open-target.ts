/**
 * Open once, prove it is what was checked, and use only that descriptor. Between the inspection and
 * the open the user reads the plan and types the name back, minutes may pass: a file replaced by a
 * symlink to /etc/shadow, a file replaced by another of the same size, or a USB disk that
 * re-enumerated so that another disk now answers at /dev/sdc must be refused, with nothing written.
 *
 * Files are opened with O_NOFOLLOW, block devices with O_EXCL; the descriptor is fstat'ed and compared
 * with the inspection (file: device and inode; block device: device number, then its sysfs size,
 * serial and loop backing file read again after the open). Every later open (O_DIRECT writes, the
 * verification, the O_DIRECT probe) goes through /proc/self/fd/N of that descriptor and is compared
 * again; --remove truncates through it and renames and unlinks only a name that still points at it.
 */
import { constants, promises as fsp, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { UserError } from '@toolbox/shared/cli';
import { errText } from '../errno-text.js';
import { blockNameOf, majMinOf, readBlockInfo, type BlockInfo, type TargetInfo } from './device.js';

/** What an opened descriptor must match: taken from the inspection. */
export interface TargetIdentity {
  kind: 'block' | 'file';
  dev: bigint;
  ino: bigint;
  rdev: bigint;
  sizeBytes: number;
  serial: string | null;
  backingFile: string | null;
}

export function identityOf(info: TargetInfo): TargetIdentity {
  if ((info.kind !== 'block' && info.kind !== 'file') || info.stat === null) {
    throw new Error(`identityOf: ${info.path} is neither a block device nor a regular file`);
  }
  return {
    kind: info.kind,
    dev: info.stat.dev,
    ino: info.stat.ino,
    rdev: info.stat.rdev,
    sizeBytes: info.sizeBytes,
    serial: info.block?.serial ?? null,
    backingFile: info.block?.backingFile ?? null,
  };
}

/** What differs between the inspected target and what a descriptor's fstat shows; null when it is the same. */
export function fstatDifference(want: TargetIdentity, st: BigIntStats): string | null {
  const kind = st.isBlockDevice() ? 'block' : st.isFile() ? 'file' : 'other';
  if (kind !== want.kind)
    return `it was a ${want.kind === 'block' ? 'block device' : 'regular file'} and is now ${kind === 'block' ? 'a block device' : kind === 'file' ? 'a regular file' : 'something else'}`;
  if (kind === 'block') {
    return st.rdev === want.rdev ? null : `device number ${majMinOf(want.rdev)} became ${majMinOf(st.rdev)}`;
  }
  if (st.dev !== want.dev || st.ino !== want.ino)
    return `another file is at its name now (inode ${want.ino} on device ${want.dev} became inode ${st.ino} on device ${st.dev})`;
  if (Number(st.size) !== want.sizeBytes) return `its size changed from ${want.sizeBytes} to ${st.size} bytes`;
  return null;
}

/** What differs between the inspected block device and its sysfs description read after the open. */
export function blockDifference(want: TargetIdentity, now: Pick<BlockInfo, 'sizeBytes' | 'serial' | 'backingFile'>): string | null {
  if (now.sizeBytes !== want.sizeBytes) return `its size changed from ${want.sizeBytes} to ${now.sizeBytes} bytes`;
  if ((now.serial ?? null) !== want.serial) return `its serial changed from ${want.serial ?? 'none'} to ${now.serial ?? 'none'}`;
  if ((now.backingFile ?? null) !== want.backingFile)
    return `the loop device's backing file changed from ${want.backingFile ?? 'none'} to ${now.backingFile ?? 'none'}`;
  return null;
}

function changed(info: TargetInfo, what: string): UserError {
  return new UserError('E_CHANGED', `${info.path} changed since it was checked: ${what}; refusing, nothing written`);
}

/** The path of an open descriptor, for opening the same file again in another mode. */
export function fdPath(fh: fsp.FileHandle): string {
  return `/proc/self/fd/${fh.fd}`;
}

/**
 * Opens the inspected target for writing and proves it is the same one; throws E_CHANGED (closing
 * what it opened) when it is not. Kernel refusals keep their own codes (E_BUSY, E_READONLY, E_PERM).
 */
export async function openVerified(
  info: TargetInfo,
  want: TargetIdentity,
  readBlock: (name: string) => Promise<BlockInfo> = readBlockInfo,
): Promise<fsp.FileHandle> {
  const isBlock = want.kind === 'block';
  const flags = constants.O_RDWR | constants.O_NOFOLLOW | (isBlock ? constants.O_EXCL : 0);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(info.resolved, flags);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ELOOP') throw changed(info, `${info.resolved} is a symlink now`);
    if (e.code === 'ENOENT' || e.code === 'ENXIO' || e.code === 'ENODEV') throw changed(info, `${info.resolved} is gone (${e.code})`);
    if (e.code === 'EBUSY') {
      throw new UserError(
        'E_BUSY',
        `${info.path}: the kernel refuses exclusive access (EBUSY): it is in use — mounted, swap, or held — even though no mount, swap or holder was found`,
      );
    }
    if (e.code === 'EROFS') throw new UserError('E_READONLY', `${info.path} is read-only (EROFS)`);
    if (e.code === 'EACCES' || e.code === 'EPERM') throw new UserError('E_PERM', `${info.path}: permission denied (run as root?)`);
    throw new UserError('E_OPEN', `${info.path}: cannot open for writing: ${errText(e)}`);
  }
  try {
    const diff = fstatDifference(want, await fh.stat({ bigint: true }));
    if (diff !== null) throw changed(info, diff);
    if (isBlock) {
      // Same device number, but is it the same disk? A re-enumerated USB disk or a loop device
      // attached to another file keeps the number.
      const name = await blockNameOf(majMinOf(want.rdev));
      if (name === null) throw changed(info, `device ${majMinOf(want.rdev)} is gone from /sys`);
      const d = blockDifference(want, await readBlock(name));
      if (d !== null) throw changed(info, d);
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Opens the already verified descriptor's file again (O_DIRECT, read-only) through /proc/self/fd and
 * proves the new descriptor is the same file. Returns null when the open itself fails (the caller
 * falls back or reports), throws E_CHANGED on a different file.
 */
export async function reopenVerified(
  fh: fsp.FileHandle,
  info: TargetInfo,
  want: TargetIdentity,
  flags: number,
): Promise<fsp.FileHandle | null> {
  let again: fsp.FileHandle;
  try {
    again = await fsp.open(fdPath(fh), flags);
  } catch {
    return null;
  }
  const diff = fstatDifference(want, await again.stat({ bigint: true }));
  if (diff !== null) {
    await again.close();
    throw changed(info, diff);
  }
  return again;
}

/**
 * --remove: truncate through the descriptor (the size is gone too), then rename to a random name and
 * unlink, each only while the name still points at the wiped inode.
 */
export async function removeVerified(fh: fsp.FileHandle, info: TargetInfo, want: TargetIdentity): Promise<void> {
  await fh.truncate(0);
  await fh.sync();
  const still = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p, { bigint: true });
    if (!st.isFile() || st.dev !== want.dev || st.ino !== want.ino) {
      throw new UserError('E_CHANGED', `${info.path} was wiped, but its name now points at another file; not removing it`);
    }
  };
  await still(info.resolved);
  const renamed = path.join(path.dirname(info.resolved), process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex'));
  await fsp.rename(info.resolved, renamed);
  await still(renamed);
  await fsp.unlink(renamed);
}
