// The disk a bench's database lives on, and what freeing a file costs there.
//
// This VM's root filesystem is ext4 mounted with `discard`: the kernel tells the virtual disk about
// every freed block as the file is freed, so the last close() of a deleted 64 MiB file that was
// written takes ~25 ms (one that was only fallocated: ~0.1 ms). A server's data disk is usually
// mounted without it (Debian's installer writes `defaults`, and the fstrim.timer trims weekly),
// where the same close() costs well under a millisecond. `report-bench.mjs --disk=plain` runs on
// such a filesystem: an ext4 made in a sparse image on a loop device (direct I/O, so that the
// image's page cache does not stand in for the disk), mounted with no options, a directory of it
// bind-mounted over the database's directory in the server's datadir.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
// The test server runs in its own mount namespace (services.sh's lo-only wrapper): mounts meant
// for it are made in there, through the namespace of its process `ns`.
const runIn = (ns, cmd, args) => (ns ? run('nsenter', ['--target', String(ns), '--mount', '--', cmd, ...args]) : run(cmd, args));

/** The mount options of the filesystem holding `path` (the longest mount point that prefixes it). */
export function mountOptions(path) {
  let best = { point: '', options: '' };
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, point, , options] = line.split(' ');
    if (point === undefined || options === undefined) continue;
    const p = point.replace(/\\040/g, ' ');
    if ((path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`)) && p.length >= best.point.length) best = { point: p, options };
  }
  return best.options;
}

/** Milliseconds the last close() of a deleted, written (O_DIRECT, fsynced) file of `mib` MiB takes in `dir`: the median of 3. */
export function fileFreeMs(dir, mib = 64) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const f = join(dir, `.free-cost-${process.pid}.tmp`);
    run('dd', ['if=/dev/zero', `of=${f}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fsync', 'status=none']);
    const fd = openSync(f, 'r');
    unlinkSync(f);
    const t = performance.now();
    closeSync(fd);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[1];
}

/** Unmounts `path` (in the mount namespace of process `ns`, if given) if something is mounted there; says whether it was. */
function unmountIfMounted(path, ns) {
  try {
    runIn(ns, 'mountpoint', ['-q', path]);
  } catch {
    return false;
  }
  runIn(ns, 'umount', [path]);
  return true;
}

/** Mounts directory `from` also at `to` (which must exist), in the mount namespace of process `ns`. */
export function bindMount(from, to, ns) {
  runIn(ns, 'mount', ['--bind', from, to]);
}

/**
 * Unmounts the `binds` made from `dir` and `dir` itself (in the mount namespace of process `ns` and
 * in this one), and detaches and deletes its image, whatever an earlier run left. Says whether
 * anything was mounted.
 */
export function unmountPlainDisk(dir, binds = [], ns = null) {
  const img = `${dir}.img`;
  let any = false;
  if (ns) for (const b of [...binds, dir]) any = unmountIfMounted(b, ns) || any;
  for (const b of [...binds, dir]) any = unmountIfMounted(b, null) || any;
  if (existsSync(img)) {
    for (const line of run('losetup', ['-j', img]).split('\n')) {
      const dev = line.split(':')[0];
      if (dev) run('losetup', ['-d', dev]);
    }
    rmSync(img);
  }
  return any;
}

/**
 * A fresh ext4 of `gib` GiB (sparse) mounted at `dir` with no options, here and (the same
 * filesystem) in the mount namespace of process `ns`. Needs root.
 */
export function mountPlainDisk(dir, gib, ns = null) {
  if (process.getuid?.() !== 0) throw new Error('--disk=plain needs root (losetup, mkfs.ext4, mount)');
  unmountPlainDisk(dir);
  const img = `${dir}.img`;
  mkdirSync(dir, { recursive: true });
  run('truncate', ['-s', `${gib}G`, img]);
  run('mkfs.ext4', ['-q', '-F', img]);
  const dev = run('losetup', ['-f', '--show', '--direct-io=on', img]);
  try {
    run('mount', ['-t', 'ext4', dev, dir]);
    if (ns) runIn(ns, 'mount', ['-t', 'ext4', dev, dir]);
  } catch (err) {
    unmountPlainDisk(dir, [], ns);
    throw err;
  }
  return { dir, dev, options: mountOptions(dir) };
}
