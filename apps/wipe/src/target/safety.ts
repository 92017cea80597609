/**
 * Pure refusal rules: given what a target is and what the system is using, the reasons (with stable
 * codes) not to write to it. O_EXCL at open time is the kernel's own second check.
 */
import { describeFileUsers } from '@toolbox/shared/cli';
import type { SystemState, TargetInfo } from './device.js';
import type { FileUse } from './file-use.js';

export interface Refusal {
  code: string;
  reason: string;
}

export interface Assessment {
  refusals: Refusal[];
  warnings: string[];
}

const shown = (t: TargetInfo): string => (t.isSymlink ? `${t.path} (-> ${t.resolved})` : t.path);

/** `use`: who else uses the target when it is a file (file-use.ts), if that was looked up. */
export function assessTarget(t: TargetInfo, sys: SystemState, use?: FileUse): Assessment {
  const refusals: Refusal[] = [];
  const warnings: string[] = [];
  const refuse = (code: string, reason: string): void => void refusals.push({ code, reason });
  const name = shown(t);

  switch (t.kind) {
    case 'missing':
      if (t.statError === 'EACCES' || t.statError === 'EPERM') refuse('E_PERM', `${name}: permission denied (run as root?)`);
      else if (t.statError === 'ENOENT') refuse('E_NOT_FOUND', `${name}: no such file or device`);
      else refuse('E_NOT_FOUND', `${name}: cannot stat (${t.statError ?? 'unknown error'})`);
      return { refusals, warnings };
    case 'directory':
      refuse('E_NOT_TARGET', `${name} is a directory; wipe overwrites a block device or a regular file`);
      return { refusals, warnings };
    case 'char':
      refuse('E_NOT_TARGET', `${name} is a character device, not a block device or a regular file`);
      return { refusals, warnings };
    case 'other':
      refuse('E_NOT_TARGET', `${name} is neither a block device nor a regular file`);
      return { refusals, warnings };
    default:
      break;
  }

  // A link into /dev that lands on a block device (/dev/disk/by-id/…) is the normal way to name a
  // disk. Anything else (a link to a file, or out of /dev) is refused: wipe the resolved path itself.
  if (t.isSymlink && !(t.kind === 'block' && t.resolved.startsWith('/dev/'))) {
    refuse('E_SYMLINK', `${t.path} is a symlink to ${t.resolved}; give the resolved path if that is really what you mean`);
  }

  if (t.kind === 'file') {
    const st = t.stat;
    if (st && sys.swapIds.has(`${st.dev}:${st.ino}`)) refuse('E_SWAP', `${name} is an active swap file (swapoff it first)`);
    if (use && use.loops.length > 0) {
      refuse(
        'E_LOOP_BACKING',
        `${name} is the backing file of loop device ${use.loops.map((l) => `/dev/${l}`).join(', ')} (losetup -d it first)`,
      );
    }
    const writers = use?.users.filter((u) => u.writable) ?? [];
    if (writers.length > 0) refuse('E_OPEN_FOR_WRITE', `${name} is open for writing by ${describeFileUsers(writers)} (stop it first)`);
    const readers = use?.users.filter((u) => !u.writable) ?? [];
    if (readers.length > 0) warnings.push(`${name} is open for reading by ${describeFileUsers(readers)}`);
    if (t.sizeBytes === 0) warnings.push(`${name} is empty: nothing to overwrite`);
    return { refusals, warnings };
  }

  const b = t.block;
  if (!b) {
    refuse('E_NOT_TARGET', `${name}: no sysfs entry for this block device`);
    return { refusals, warnings };
  }
  const ids = new Map<string, string>([[b.majMin, b.name], ...b.partitions.map((x) => [x.majMin, x.name] as [string, string])]);
  const names = new Set([b.name, ...b.partitions.map((x) => x.name)]);

  const rootHit = [...names].find((n) => sys.rootDevices.has(n));
  if (rootHit) refuse('E_ROOTFS', `${name} holds the root filesystem (through ${rootHit})`);

  const mounted: string[] = [];
  for (const m of sys.mounts) {
    const dev = ids.get(m.majMin);
    if (dev) mounted.push(`${dev} on ${m.mountPoint}`);
  }
  for (const [id, mp] of sys.mountedSourceIds) {
    const dev = ids.get(id);
    if (dev && !mounted.some((x) => x === `${dev} on ${mp}`)) mounted.push(`${dev} on ${mp}`);
  }
  if (mounted.length > 0) refuse('E_MOUNTED', `${name} is mounted: ${mounted.join(', ')} (unmount first)`);

  const swapped = [...ids].filter(([id]) => sys.swapIds.has(id)).map(([, n]) => n);
  if (swapped.length > 0) refuse('E_SWAP', `${name} is active swap: ${swapped.join(', ')} (swapoff first)`);

  if (b.unreadable.length > 0) {
    refuse(
      'E_SYSFS',
      `${name}: cannot read ${b.unreadable.join(', ')} in /sys/class/block: whether it is held or how large it is cannot be told`,
    );
  }
  if (b.holders.length > 0) {
    refuse('E_HELD', `${name} is held by ${b.holders.join(', ')} (LVM, dm-crypt or md: deactivate it first)`);
  }
  if (b.readOnly) refuse('E_READONLY', `${name} is read-only (sysfs ro=1)`);
  if (b.rotational === false) {
    warnings.push(
      `${name} is not rotational (flash): overwriting is NIST SP 800-88 "Clear", not "Purge" — remapped and over-provisioned blocks are not reached; for Purge use the firmware sanitize commands (nvme sanitize / nvme format --ses, hdparm --security-erase / sg_sanitize)`,
    );
  }
  if (b.isPartition) warnings.push(`${name} is a partition, not a whole disk: the rest of the disk is left alone`);
  return { refusals, warnings };
}
