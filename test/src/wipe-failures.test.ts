/**
 * wipe when the medium fails or does not hold what was written, through the built CLI on real loop
 * devices (root and losetup needed):
 * - a device that runs out of room mid-pass: a loop device over a sparse file larger than the small
 *   tmpfs it lives on, so writes past the tmpfs's space fail in the kernel (ENOSPC/EIO);
 * - bytes that differ from the pass when it is verified: exit 1 with the count and offsets.
 * Every loop device and mount made here is undone in afterAll, whatever happened.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNeeds } from '@toolbox/shared/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

/** What keeps these tests from running here, if anything: they make loop devices. */
const missing =
  process.getuid?.() !== 0
    ? 'root (loop devices)'
    : spawnSync('losetup', ['--version']).status !== 0
      ? 'losetup (util-linux) not installed'
      : undefined;

interface PassRecord {
  index: number;
  status: string;
  bytesWritten: number;
  verify: { result: string; mismatchedBytes: number; firstMismatchOffsets: number[]; readMode: string } | null;
}
interface TargetRecord {
  target: string;
  outcome: string;
  error: string | null;
  verification: string;
  passes: PassRecord[];
}

let dir = '';
const loops: string[] = [];
const mounts: string[] = [];

function loopOver(file: string): string {
  const dev = execFileSync('losetup', ['-f', '--show', file]).toString().trim();
  loops.push(dev);
  return dev;
}

/** The device's first `length` bytes, read with O_DIRECT by dd, independently of wipe. */
function readDevice(dev: string, length: number): Buffer {
  const blocks = Math.ceil(length / (1 << 20));
  const out = execFileSync('dd', [`if=${dev}`, 'iflag=direct', 'bs=1M', `count=${blocks}`, 'status=none'], {
    maxBuffer: blocks * (1 << 20) + 1,
  });
  return out.subarray(0, length);
}

function readReport(file: string): TargetRecord {
  const r = JSON.parse(readFileSync(file, 'utf8')) as { targets: TargetRecord[] };
  expect(r.targets).toHaveLength(1);
  return r.targets[0] as TargetRecord;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wipe-failures-'));
});

afterAll(() => {
  for (const l of loops.splice(0)) spawnSync('losetup', ['-d', l]);
  for (const m of mounts.splice(0).reverse()) spawnSync('umount', [m]);
  rmSync(dir, { recursive: true, force: true });
});

describeNeeds(missing)('wipe when the medium fails', () => {
  it('stops a pass on a device that runs out of room with one line, exit 2, and a report of which bytes hold it', async () => {
    const mp = join(dir, 'small-tmpfs');
    mkdirSync(mp);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8M', 'tmpfs', mp]);
    mounts.push(mp);
    const backing = join(mp, 'sparse.img');
    const size = 32 << 20; // four times what the tmpfs can hold
    writeFileSync(backing, '');
    truncateSync(backing, size);
    const dev = loopOver(backing);
    const report = join(dir, 'full.json');

    const r = await runTool('wipe', ['--yes', '--report', report, dev]);

    expect(r.code).toBe(2);
    const errLines = r.stderr.trim().split('\n');
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(
      new RegExp(
        `^wipe: ${dev}: pass 1 stopped at byte (\\d+) of ${size}: (ENOSPC no space left|EIO I/O error \\(the device failed or disappeared\\)) \\(the report says which bytes were overwritten\\)$`,
      ),
    );
    const t = readReport(report);
    expect(t.outcome).toBe('failed');
    expect(t.verification).toBe('incomplete');
    const [first, second] = t.passes;
    const done = first?.bytesWritten ?? -1;
    // The tmpfs holds at most 8 MiB of the device's data: the pass got that far at most, and it got somewhere.
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThanOrEqual(8 << 20);
    expect(first?.status).toBe('partial');
    expect(t.error).toBe(errLines[0]?.replace(`wipe: ${dev}: `, '').replace(' (the report says which bytes were overwritten)', ''));
    expect(second).toMatchObject({ status: 'not started', bytesWritten: 0, verify: null });
    // What the report says was overwritten was: [0, bytesWritten) holds pass 1's 0x55.
    const head = readDevice(dev, done);
    expect(head.length).toBe(done);
    expect(head.every((b) => b === 0x55)).toBe(true);
  });

  it('exits 1 and names the differing offsets when a pass read back from the medium does not hold its pattern', async () => {
    const size = 16 << 20;
    const backing = join(dir, 'mismatch.img');
    writeFileSync(backing, Buffer.alloc(size, 0xee));
    const dev = loopOver(backing);
    const report = join(dir, 'mismatch.json');

    const first = await runTool('wipe', ['--yes', '--pattern', '0x55', '--report', report, dev]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const ok = readReport(report);
    expect(ok.outcome).toBe('wiped');

    // The record a Ctrl-C during verification leaves (pass written, its check cut short), so that
    // --resume verifies the pass again; in between, three bytes on the device stop holding it.
    const saved = JSON.parse(readFileSync(report, 'utf8')) as { targets: (TargetRecord & { passes: PassRecord[] })[] };
    const pass = saved.targets[0]?.passes[0];
    if (!pass?.verify) throw new Error('the first run did not verify its pass');
    pass.verify.result = 'interrupted';
    Object.assign(saved.targets[0] as TargetRecord, {
      outcome: 'interrupted',
      verification: 'not run',
      error: 'interrupted while verifying pass 1',
    });
    writeFileSync(report, JSON.stringify(saved));
    const offsets = [4096, 4097, size - 1];
    for (const at of offsets) {
      execFileSync('dd', [`of=${dev}`, 'bs=1', `seek=${at}`, 'count=1', 'conv=notrunc,fsync', 'status=none'], {
        input: Buffer.from([0x00]),
      });
    }

    const again = await runTool('wipe', ['--yes', '--resume', report]);

    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`wipe: ${dev}: verification failed: 3 bytes differ\n`);
    const t = readReport(report);
    expect(t.outcome).toBe('verify-failed');
    expect(t.verification).toBe('failed');
    expect(t.passes[0]?.verify).toMatchObject({
      result: 'mismatch',
      mismatchedBytes: 3,
      firstMismatchOffsets: offsets,
      readMode: 'O_DIRECT',
    });
    // Nothing was rewritten: the bytes are still the ones put there behind wipe's back.
    expect(
      readDevice(dev, size)
        .subarray(4096, 4098)
        .equals(Buffer.from([0, 0])),
    ).toBe(true);
  });
});
