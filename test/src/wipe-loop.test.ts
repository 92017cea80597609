/**
 * wipe on real loop devices (root and losetup needed): every byte afterwards, refusals for a mounted
 * and a swapped-on device, and Ctrl-C with --resume. Every loop device, mount and swap this file
 * creates is undone in afterEach, whatever happened; nothing else is touched.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeNeeds } from '@toolbox/shared/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';

const WIPE = fileURLToPath(new URL('../../apps/wipe/bin/wipe.js', import.meta.url));
/** What keeps these tests from running here, if anything: they make loop devices. */
const missing =
  process.getuid?.() !== 0
    ? 'root (loop devices)'
    : spawnSync('losetup', ['--version']).status !== 0
      ? 'losetup (util-linux) not installed'
      : undefined;

let dir = '';
const loops: string[] = [];
const mounts: string[] = [];
const swaps: string[] = [];

function makeLoop(size: number, fill?: number): { dev: string; file: string } {
  const file = join(dir, `backing-${loops.length}.img`);
  if (fill === undefined) {
    writeFileSync(file, '');
    truncateSync(file, size);
  } else {
    writeFileSync(file, Buffer.alloc(size, fill));
  }
  const dev = execFileSync('losetup', ['-f', '--show', file]).toString().trim();
  loops.push(dev);
  return { dev, file };
}

function wipe(args: string[]) {
  const r = spawnSync(process.execPath, [WIPE, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  return { exit: r.status, out: r.stdout, err: r.stderr };
}

/** The device's bytes read with O_DIRECT by dd, independently of wipe. */
function readDevice(dev: string, size: number): Buffer {
  const out = execFileSync('dd', [`if=${dev}`, 'iflag=direct', 'bs=1M', 'status=none'], { maxBuffer: size + (1 << 20) });
  expect(out.length).toBe(size);
  return out;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wipe-loop-'));
});

afterEach(() => {
  for (const s of swaps.splice(0)) spawnSync('swapoff', [s]);
  for (const m of mounts.splice(0)) spawnSync('umount', [m]);
  for (const l of loops.splice(0)) spawnSync('losetup', ['-d', l]);
  rmSync(dir, { recursive: true, force: true });
});

describeNeeds(missing)('wipe on loop devices', () => {
  it('kill -9 in the middle of a pass leaves a valid report; --resume finishes, every byte right, the report shows both runs', async () => {
    const size = 768 << 20;
    // written, not sparse: both passes then take about as long
    const { dev } = makeLoop(size, 0xee);
    const report = join(dir, 'killed.json');
    const child = spawn(process.execPath, [WIPE, '--yes', '--json', '--report', report, dev], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    // JSON progress comes about once a second: time half of pass 2 from how long pass 1 took
    let pass1Seconds = 0;
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        const e = JSON.parse(l) as { event: string; label?: string; elapsed_s?: number };
        if (e.event === 'done' && e.label?.includes('pass 1/2')) pass1Seconds = e.elapsed_s ?? 0;
        if (e.event === 'progress' && e.label?.includes('pass 2/2') && !child.killed) {
          setTimeout(() => child.kill('SIGKILL'), Math.max(50, pass1Seconds * 500)); // no chance to write anything
        }
      }
    });
    expect(await exit).toBe('SIGKILL');
    const saved = JSON.parse(readFileSync(report, 'utf8')) as {
      runs: unknown[];
      targets: { outcome: string; passes: { status: string; bytesWritten: number }[] }[];
    };
    const t = saved.targets[0];
    expect(t?.outcome).toBe('in-progress');
    expect(t?.passes[0]).toMatchObject({ status: 'done', bytesWritten: size });
    // the last checkpoint holds only bytes already flushed: maybe none of pass 2 yet
    expect(['not started', 'partial']).toContain(t?.passes[1]?.status);
    expect(t?.passes[1]?.bytesWritten).toBeLessThan(size);
    expect(t?.passes[1]?.bytesWritten).toBeGreaterThanOrEqual(0);
    expect(saved.runs).toHaveLength(1);

    const again = wipe(['--yes', '--json', '--resume', report]);
    expect(again.exit).toBe(0);
    const done = JSON.parse(readFileSync(report, 'utf8')) as typeof saved;
    expect(done.targets[0]?.outcome).toBe('wiped');
    expect(done.runs).toHaveLength(2);
    expect(readDevice(dev, size).equals(Buffer.alloc(size, 0xaa))).toBe(true);
  }, 120_000);

  it('refuses the backing file of an attached loop device, and writes nothing', () => {
    const { dev, file } = makeLoop(1 << 20, 0xee);
    const r = wipe(['--yes', file]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: ${file} is the backing file of loop device ${dev} (losetup -d it first) (nothing written)\n`);
    expect(readFileSync(file).every((b) => b === 0xee)).toBe(true);
  });

  /** A file system of `type` made on a loop device and mounted; returns the mount point. */
  function mountFs(type: 'btrfs' | 'xfs' | 'ext4', size: number): string {
    const { dev } = makeLoop(size);
    execFileSync(`mkfs.${type}`, type === 'ext4' ? ['-q', dev] : ['-q', '-f', dev]);
    const mp = join(dir, `mnt-${type}`);
    mkdirSync(mp);
    execFileSync('mount', [dev, mp]);
    mounts.push(mp);
    return mp;
  }

  it('on btrfs: every byte overwritten and read back, but the outcome says in-place is not guaranteed, exit 1', () => {
    const mp = mountFs('btrfs', 256 << 20);
    const f = join(mp, 'secret.img');
    writeFileSync(f, Buffer.alloc(1 << 20, 0xee));
    const report = join(dir, 'btrfs-report.json');
    const r = wipe(['--yes', '--report', report, f]);
    expect(r.exit).toBe(1);
    expect(r.out).toContain('warning: in-place overwrite not guaranteed: btrfs is copy-on-write');
    expect(r.err).toBe(
      `wipe: ${f}: every byte was overwritten and read back, but in-place overwrite is not guaranteed: btrfs is copy-on-write: new bytes go to new blocks, the old ones (and snapshots) keep the data\n`,
    );
    const t = (
      JSON.parse(readFileSync(report, 'utf8')) as { targets: { outcome: string; inPlace: { fsType: string; guaranteed: boolean } }[] }
    ).targets[0];
    expect(t?.outcome).toBe('in-place-not-guaranteed');
    expect(t?.inPlace).toMatchObject({ fsType: 'btrfs', guaranteed: false });
    expect(readFileSync(f).every((b) => b === 0xaa)).toBe(true);
  });

  it('on XFS: a file with a reflinked copy is not guaranteed; one without is wiped', () => {
    const mp = mountFs('xfs', 320 << 20);
    const shared = join(mp, 'shared.img');
    writeFileSync(shared, Buffer.alloc(1 << 20, 0xee));
    execFileSync('cp', ['--reflink=always', shared, join(mp, 'copy.img')]);
    const lone = join(mp, 'lone.img');
    writeFileSync(lone, Buffer.alloc(1 << 20, 0xee));
    const a = wipe(['--yes', '--json', shared]);
    expect(a.exit).toBe(1);
    expect(a.err).toMatch(/in-place overwrite is not guaranteed: xfs: the file shares extents with a reflinked copy/);
    // the copy keeps the old data: that is exactly why
    expect(readFileSync(join(mp, 'copy.img')).every((b) => b === 0xee)).toBe(true);
    const b = wipe(['--yes', '--json', lone]);
    expect(b.err).not.toContain('warning:');
    expect(b.exit).toBe(0);
    expect(
      (JSON.parse(b.out.trim().split('\n').at(-1) ?? '{}') as { report: { targets: { outcome: string; inPlace: unknown }[] } }).report
        .targets[0],
    ).toMatchObject({
      outcome: 'wiped',
      inPlace: { fsType: 'xfs', guaranteed: true, why: null },
    });
  });

  it('a loop device attached to another file of the same size during the question: refused, neither file written', async () => {
    const size = 4 * 1024 * 1024;
    const { dev, file } = makeLoop(size, 0xee);
    const other = join(dir, 'other.img');
    writeFileSync(other, Buffer.alloc(size, 0x33));
    const child = spawn(process.execPath, [WIPE, dev], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    const asked = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes("Type '")) resolve();
      });
    });
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await asked;
    // the same device number now answers for another "disk" of the same size
    execFileSync('losetup', ['-d', dev]);
    for (let i = 0; ; i++) {
      if (spawnSync('losetup', [dev, other]).status === 0) break;
      if (i > 50) throw new Error(`could not re-attach ${dev}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.stdin.end(`${basename(dev)}\n`);
    expect(await exit).toBe(2);
    expect(err.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(
        `wipe: ${dev} changed since it was checked: the loop device's backing file changed from ${file} to ${other}; refusing, nothing written$`,
      ),
    );
    expect(readFileSync(file).every((b) => b === 0xee)).toBe(true);
    expect(readFileSync(other).every((b) => b === 0x33)).toBe(true);
  });

  it('leaves every byte of a device whose size is no multiple of the buffer holding the last pass', () => {
    const size = 24 * 1024 * 1024 + 7 * 512;
    const { dev, file } = makeLoop(size, 0xee);
    const r = wipe(['--yes', dev]);
    expect(r.err).toBe('');
    expect(r.exit).toBe(0);
    expect(r.out).toContain(`target    ${dev} [block]`);
    expect(r.out).toMatch(/pass {2}2 {2}0xAA +done +25169408 B .* verify match via O_DIRECT/);
    const want = Buffer.alloc(size, 0xaa);
    expect(readDevice(dev, size).equals(want)).toBe(true);
    const backing = readFileSync(file);
    expect(backing.length).toBe(size);
    expect(backing.equals(want)).toBe(true);
  });

  it('keeps a 3-byte pattern in phase across every buffer to the last byte', () => {
    const size = 9 * 1024 * 1024 + 512;
    const { dev } = makeLoop(size, 0);
    const r = wipe(['--yes', '--pattern', '0x92', '0x49', '0x24', dev]);
    expect(r.exit).toBe(0);
    const got = readDevice(dev, size);
    const p = [0x92, 0x49, 0x24];
    let bad = -1;
    for (let i = 0; i < size; i++) {
      if (got[i] !== p[i % 3]) {
        bad = i;
        break;
      }
    }
    expect(bad).toBe(-1);
  });

  it('refuses a mounted device, names the mount point and leaves the filesystem alone', () => {
    const { dev } = makeLoop(32 << 20);
    execFileSync('mkfs.ext4', ['-q', '-L', 'wipetest', dev]);
    const mp = join(dir, 'mnt');
    mkdirSync(mp);
    execFileSync('mount', [dev, mp]);
    mounts.push(mp);
    const r = wipe(['--yes', '--json', dev]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: ${dev} is mounted: ${basename(dev)} on ${mp} (unmount first) (nothing written)\n`);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'E_MOUNTED' } });
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'LABEL', dev]).toString().trim()).toBe('wipetest');
  });

  it('refuses an active swap device', () => {
    const { dev } = makeLoop(16 << 20);
    execFileSync('mkswap', ['-q', dev]);
    execFileSync('swapon', [dev]);
    swaps.push(dev);
    const r = wipe(['--yes', '--json', dev]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: ${dev} is active swap: ${basename(dev)} (swapoff first) (nothing written)\n`);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'E_SWAP' } });
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev]).toString().trim()).toBe('swap');
  });

  it('is refused by the kernel (O_EXCL, EBUSY) when something holds the device that sysfs does not show', () => {
    const { dev } = makeLoop(8 << 20, 0xee);
    const holder = openSync(dev, constants.O_RDONLY | constants.O_EXCL);
    try {
      const r = wipe(['--yes', dev]);
      expect(r.exit).toBe(2);
      expect(r.err).toContain(`wipe: ${dev}: the kernel refuses exclusive access (EBUSY)`);
    } finally {
      closeSync(holder);
    }
    expect(readDevice(dev, 8 << 20).equals(Buffer.alloc(8 << 20, 0xee))).toBe(true);
  });

  it('refuses a read-only device', () => {
    const file = join(dir, 'ro.img');
    writeFileSync(file, Buffer.alloc(4 << 20, 0xee));
    const dev = execFileSync('losetup', ['-f', '--show', '-r', file]).toString().trim();
    loops.push(dev);
    const r = wipe(['--yes', dev]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: ${dev} is read-only (sysfs ro=1) (nothing written)\n`);
  });

  it('says so when verification cannot bypass the page cache (ramfs has no O_DIRECT)', () => {
    const mp = join(dir, 'ramfs');
    mkdirSync(mp);
    execFileSync('mount', ['-t', 'ramfs', 'ramfs', mp]);
    mounts.push(mp);
    const f = join(mp, 'x.img');
    writeFileSync(f, Buffer.alloc(10_000, 1));
    const r = wipe(['--yes', '--json', f]);
    expect(r.exit).toBe(0);
    const report = JSON.parse(r.out.trim().split('\n').at(-1) ?? '{}') as {
      report: {
        targets: { warnings: string[]; passes: { verify: { readMode: string; readModeNote: string; result: string } | null }[] }[];
      };
    };
    const t = report.report.targets[0];
    expect(t?.passes[1]?.verify).toEqual(
      expect.objectContaining({
        readMode: 'page cache',
        result: 'match',
        readModeNote: 'O_DIRECT open failed (EINVAL): the filesystem does not support it',
      }),
    );
    expect(t?.warnings).toContain(
      'verification read through the page cache, not from the medium: O_DIRECT open failed (EINVAL): the filesystem does not support it',
    );
    expect(readFileSync(f).equals(Buffer.alloc(10_000, 0xaa))).toBe(true);
  });

  it('stops on Ctrl-C with exit 130 and a report of how far it got; --resume finishes the job', async () => {
    const size = 128 << 20;
    const { dev } = makeLoop(size);
    const report = join(dir, 'cert.json');
    const child = spawn(process.execPath, [WIPE, '--yes', '--json', '--passes', '2', '--report', report, dev], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"event":"progress"') && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (code) => resolve(code));
    });
    expect(exit).toBe(130);
    expect(err).toContain(`wipe: ${dev}: interrupted; continue with --resume ${report}`);
    const saved = JSON.parse(readFileSync(report, 'utf8')) as {
      targets: { outcome: string; passes: { status: string; bytesWritten: number }[] }[];
    };
    const t = saved.targets[0];
    expect(t?.outcome).toBe('interrupted');
    const notDone = t?.passes.filter((p) => p.status !== 'done') ?? [];
    expect(notDone.length).toBeGreaterThan(0);
    expect(notDone.every((p) => p.bytesWritten < size)).toBe(true);

    const again = wipe(['--yes', '--resume', report]);
    expect(again.err).toBe('');
    expect(again.exit).toBe(0);
    const done = JSON.parse(readFileSync(report, 'utf8')) as typeof saved;
    expect(done.targets[0]?.outcome).toBe('wiped');
    expect(done.targets[0]?.passes.every((p) => p.status === 'done' && p.bytesWritten === size)).toBe(true);
    expect(readDevice(dev, size).equals(Buffer.alloc(size, 0xaa))).toBe(true);
  });
});
