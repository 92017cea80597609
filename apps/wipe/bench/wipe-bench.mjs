#!/usr/bin/env node
// One 0x55 pass with a flush, side by side: wipe, dd (from a pattern file, conv=fsync), shred -n0 -z,
// and the awk one-liner wipe replaces; then read-back: wipe's verification vs dd iflag=direct.
// On a file and on a loop device over it (root only), page-cached as losetup makes it by default
// and with --direct-io=on. Usage:
//   node bench/wipe-bench.mjs [--size-mib 2048] [--awk-mib 128] [--reps 3] [--dir /tmp]
import { Buffer } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync, openSync, writeSync, closeSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MiB = 1 << 20;
const size = Number(opt('size-mib', '2048')) * MiB;
const awkSize = Number(opt('awk-mib', '128')) * MiB;
const reps = Number(opt('reps', '3'));
const baseDir = opt('dir', '/tmp');
const wipeBin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'wipe.js');

const fs = statfsSync(baseDir);
const free = fs.bavail * fs.bsize;
if (free < 2.5 * size + awkSize) {
  console.error(
    `wipe-bench: ${baseDir} has ${(free / 2 ** 30).toFixed(1)} GiB free; need ${((2.5 * size + awkSize) / 2 ** 30).toFixed(1)} GiB (use --size-mib)`,
  );
  process.exit(2);
}

const dir = mkdtempSync(join(baseDir, 'wipe-bench-'));
const target = join(dir, 'target.img');
const patternFile = join(dir, 'pattern-55.bin');
let loop = null;

function fillFile(path, bytes, byte) {
  const chunk = Buffer.alloc(4 * MiB, byte);
  const fd = openSync(path, 'w');
  for (let off = 0; off < bytes; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
  closeSync(fd);
}

function timed(cmd, argv, extra = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MiB, ...extra });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { secs, stdout: String(r.stdout) };
}

const best = (f) => {
  let b = Infinity;
  let last;
  for (let i = 0; i < reps; i++) {
    last = f();
    b = Math.min(b, last.secs);
  }
  return { secs: b, last };
};
const mbps = (bytes, secs) => bytes / 1e6 / secs;

function benchTarget(path, label) {
  const rows = [];
  let passSecs = Infinity;
  const wipe = best(() => {
    const r = timed('node', [wipeBin, '--yes', '--json', '--pattern', '0x55', '--verify', 'none', '--', path]);
    const line = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((x) => x.event === 'report');
    passSecs = Math.min(passSecs, line.report.targets[0].passes[0].seconds);
    return r;
  });
  const dd = best(() => timed('dd', [`if=${patternFile}`, `of=${path}`, 'bs=4M', 'conv=fsync,notrunc', 'status=none']));
  const shred = best(() => timed('shred', ['-n0', '-z', path]));
  // Read-back: wipe's verification and dd's read taken in turns, each right after wipe wrote the
  // target, so that both meet the disk in the same state; the best of each.
  const wipeVerify = { secs: Infinity, last: null };
  const ddRead = { secs: Infinity };
  for (let i = 0; i < reps; i++) {
    const r = timed('node', [wipeBin, '--yes', '--json', '--pattern', '0x55', '--verify', 'last', '--', path]);
    const line = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((x) => x.event === 'report');
    const v = line.report.targets[0].passes[0].verify;
    if (v.result !== 'match') throw new Error('verify mismatch in bench');
    wipeVerify.last = { readMode: v.readMode };
    wipeVerify.secs = Math.min(wipeVerify.secs, v.seconds);
    ddRead.secs = Math.min(ddRead.secs, timed('dd', [`if=${path}`, 'iflag=direct', 'bs=4M', 'of=/dev/null', 'status=none']).secs);
  }
  // Each row: target, op, tool, MB/s, and the MB/s of wipe to compare with (wall clock, pass alone).
  const wWall = mbps(size, wipe.secs);
  const wPass = mbps(size, passSecs);
  const wRead = mbps(size, wipeVerify.secs);
  rows.push(
    [label, 'write', 'wipe --pattern 0x55 (one pass, fdatasync)', wWall, null, null],
    [label, 'write', '  the same, its pass alone (no Node start-up)', wPass, null, null],
    [label, 'write', 'dd if=pattern bs=4M conv=fsync,notrunc', mbps(size, dd.secs), wWall, wPass],
    [label, 'write', 'shred -n0 -z (one zero pass)', mbps(size, shred.secs), wWall, wPass],
    [label, 'read', `wipe verify (${wipeVerify.last.readMode})`, wRead, null, null],
    [label, 'read', 'dd iflag=direct bs=4M of=/dev/null', mbps(size, ddRead.secs), wRead, wRead],
  );
  return rows;
}

/**
 * Read-back alone, on the file as wipe's last pass left it (0x55): wipe's verification (its own
 * module, in this process) and dd iflag=direct in turns, the order swapped every pair, so that
 * neither always meets a disk (and host cache) the other just warmed. Prints each pair and the median.
 */
async function readBackPairs(path, n) {
  const { verifyPass } = await import('../dist/passes/verify.js');
  const source = { kind: 'pattern', bytes: new Uint8Array([0x55]) };
  const verify = async () => {
    const t0 = process.hrtime.bigint();
    const r = await verifyPass({ path, size, source, key: null, direct: true });
    if (r.error || r.mismatchedBytes > 0) throw new Error(`verify failed in bench: ${r.error ?? r.mismatchedBytes}`);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const dd = () => timed('dd', [`if=${path}`, 'iflag=direct', 'bs=4M', 'of=/dev/null', 'status=none']).secs;
  const ratios = [];
  for (let i = 0; i < n; i++) {
    let w;
    let d;
    if (i % 2 === 0) {
      w = await verify();
      d = dd();
    } else {
      d = dd();
      w = await verify();
    }
    ratios.push(d / w);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  return { ratios, median: (sorted[(n - 1) >> 1] + sorted[n >> 1]) / 2 };
}

try {
  console.log(
    `wipe-bench: ${size / MiB} MiB target in ${dir}, best of ${reps}; node ${process.version}; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  // The floor under wipe's fixed cost: starting Node itself, in this environment, doing nothing.
  const floor = best(() => timed('node', ['-e', '0']));
  console.log(`node -e 0 (start-up alone): ${(floor.secs * 1000).toFixed(0)} ms`);
  fillFile(patternFile, size, 0x55);
  fillFile(target, size, 0x00);
  execFileSync('sync');
  const rows = benchTarget(target, 'file');
  const pairs = await readBackPairs(target, 10);

  // The awk one-liner, on a smaller file (it is slow), in the C locale (in UTF-8 it writes 0xAA as C2 AA).
  const awkTarget = join(dir, 'awk.img');
  const awk = best(() =>
    timed('sh', [
      '-c',
      'LC_ALL=C awk -v n="$1" \'BEGIN { for (i = 0; i < n; i++) printf "%c", 85 }\' > "$2" && sync -d "$2"',
      'sh',
      String(awkSize),
      awkTarget,
    ]),
  );
  const awkRate = mbps(awkSize, awk.secs);
  rows.push(['file', 'write', `awk printf, a byte at a time (${awkSize / MiB} MiB)`, awkRate, rows[0][3], rows[1][3]]);
  rmSync(awkTarget, { force: true });

  if (process.getuid?.() === 0) {
    // A loop device as losetup makes it by default reads and writes the backing file through the
    // page cache: its "medium" is memory, and an O_DIRECT read of it is a memory copy. With
    // --direct-io=on it passes O_DIRECT on to the file, so that a read of it reaches the disk as a
    // read of a real device does. Both are measured.
    for (const dio of [false, true]) {
      loop = execFileSync('losetup', ['-f', '--show', ...(dio ? ['--direct-io=on'] : []), target])
        .toString()
        .trim();
      const name = loop.replace('/dev/', '');
      let on = '';
      try {
        on = readFileSync(`/sys/block/${name}/loop/dio`, 'utf8').trim();
      } catch {
        // older kernels: no such file
      }
      if (dio && on !== '1') console.log(`(${loop}: the kernel did not turn direct I/O on; its row is page-cached too)`);
      rows.push(...benchTarget(loop, `${loop}${dio ? ' dio' : ''}`));
      spawnSync('losetup', ['-d', loop]);
      loop = null;
    }
  } else {
    console.log('(not root: loop-device runs skipped)');
  }

  console.log("\nwipe speed-up = wipe MB/s / tool MB/s (wall clock; and with wipe's pass alone, without Node start-up)");
  console.log('target           op     tool                                             MB/s   speed-up (wall / pass)');
  for (const [t, op, tool, rate, wall, pass] of rows) {
    const ratio = wall === null ? '' : `${(wall / rate).toFixed(2)}x / ${(pass / rate).toFixed(2)}x`;
    console.log(`${String(t).padEnd(16)} ${op.padEnd(6)} ${tool.padEnd(46)} ${rate.toFixed(0).padStart(7)}   ${ratio}`);
  }
  console.log(
    `\nfile read-back alone, wipe verify / dd iflag=direct, ${pairs.ratios.length} pairs in turns: ${pairs.ratios.map((r) => r.toFixed(2)).join(' ')}; median ${pairs.median.toFixed(2)}x`,
  );
  console.log(
    `load at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
} finally {
  if (loop) spawnSync('losetup', ['-d', loop]);
  rmSync(dir, { recursive: true, force: true });
}
