/**
 * Open once, prove identity: a target swapped while the user reads the plan and types its name is
 * refused with one line naming what changed, and nothing is written anywhere. Real files, the real
 * CLI wiring (in-process), the answer typed only after the swap.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo, holdOpen } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { blockDifference, fstatDifference, identityOf, type TargetIdentity } from './open-target.js';
import { inspectTarget } from './device.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wipe-open-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs wipe on `file`; when the question appears, calls `swap`, then types the expected answer. */
async function wipeWithSwap(args: string[], answer: string, swap: () => void | Promise<void>) {
  const io = createMemoryIo({ USER: 'tester' });
  const stdin = new PassThrough();
  const asked = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (io.err().includes("Type '")) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const running = runCli('wipe', (i) => buildProgram(i, { stdin }), ['node', 'wipe', ...args], io);
  await asked;
  await swap();
  stdin.end(`${answer}\n`);
  const exit = await running;
  // the prompt and the error share a line: the typed answer is not echoed
  const line = (io.err().trimEnd().split('\n').at(-1) ?? '').replace(/^Type '[^']*' to destroy all data on \S+: /, '');
  return { exit, out: io.out(), err: io.err(), line };
}

const fill = (f: string, size: number, byte: number) => writeFileSync(f, Buffer.alloc(size, byte));
const untouched = (f: string, size: number, byte: number) => {
  const b = readFileSync(f);
  return b.length === size && b.every((x) => x === byte);
};

describe('a target swapped during the question', () => {
  it('a file replaced by a symlink to another file: refused, neither written', async () => {
    const target = path.join(dir, 'disk.img');
    const victim = path.join(dir, 'shadow');
    fill(target, 65_536, 0xee);
    fill(victim, 65_536, 0x11);
    const moved = path.join(dir, 'moved.img');
    const r = await wipeWithSwap([target], 'disk.img', () => {
      renameSync(target, moved);
      symlinkSync(victim, target);
    });
    expect(r.exit).toBe(2);
    expect(r.line).toBe(`wipe: ${target} changed since it was checked: ${target} is a symlink now; refusing, nothing written`);
    expect(untouched(victim, 65_536, 0x11)).toBe(true);
    expect(untouched(moved, 65_536, 0xee)).toBe(true);
  });

  it('a file replaced by another of the same size: refused, neither written', async () => {
    const target = path.join(dir, 'disk.img');
    fill(target, 65_536, 0xee);
    const old = statSync(target);
    const moved = path.join(dir, 'moved.img');
    const r = await wipeWithSwap([target], 'disk.img', () => {
      renameSync(target, moved);
      fill(target, 65_536, 0x22);
    });
    expect(r.exit).toBe(2);
    expect(r.line).toMatch(
      new RegExp(
        `^wipe: ${target} changed since it was checked: another file is at its name now \\(inode ${old.ino} on device \\d+ became inode \\d+ on device \\d+\\); refusing, nothing written$`,
      ),
    );
    expect(untouched(target, 65_536, 0x22)).toBe(true);
    expect(untouched(moved, 65_536, 0xee)).toBe(true);
  });

  it('a file that vanished: refused with one line', async () => {
    const target = path.join(dir, 'disk.img');
    fill(target, 4096, 0xee);
    const r = await wipeWithSwap([target], 'disk.img', () => unlinkSync(target));
    expect(r.exit).toBe(2);
    expect(r.line).toBe(`wipe: ${target} changed since it was checked: ${target} is gone (ENOENT); refusing, nothing written`);
  });

  it('a file that grew: refused', async () => {
    const target = path.join(dir, 'disk.img');
    fill(target, 4096, 0xee);
    const r = await wipeWithSwap([target], 'disk.img', () => writeFileSync(target, Buffer.alloc(10, 0xee), { flag: 'a' }));
    expect(r.exit).toBe(2);
    expect(r.line).toBe(
      `wipe: ${target} changed since it was checked: its size changed from 4096 to 4106 bytes; refusing, nothing written`,
    );
    expect(untouched(target, 4106, 0xee)).toBe(true);
  });

  it('a file another process opened for writing during the question: the checks run again and refuse it', async () => {
    const target = path.join(dir, 'vm.img');
    fill(target, 65_536, 0xee);
    let holder: ChildProcess | null = null;
    try {
      const r = await wipeWithSwap([target], 'vm.img', async () => {
        holder = await holdOpen(target, '>>');
      });
      expect(r.exit).toBe(2);
      const pid = (holder as ChildProcess | null)?.pid;
      expect(r.line).toMatch(
        new RegExp(
          `^wipe: ${target} is open for writing by PID ${pid} \\(sleep\\) \\(stop it first\\), found after the confirmation \\(nothing written\\)$`,
        ),
      );
      expect(untouched(target, 65_536, 0xee)).toBe(true);
    } finally {
      (holder as ChildProcess | null)?.kill('SIGKILL');
    }
  });

  it('untouched: wiped, and --remove removes exactly it', async () => {
    const target = path.join(dir, 'disk.img');
    fill(target, 65_536, 0xee);
    const r = await wipeWithSwap(['--remove', target], 'disk.img', () => undefined);
    expect(r.err).not.toContain('changed');
    expect(r.exit).toBe(0);
    expect(await fsp.readdir(dir)).toEqual([]);
  });
});

describe('identity comparisons', () => {
  const file = async () => {
    const f = path.join(dir, 'f');
    fill(f, 100, 1);
    return identityOf(await inspectTarget(f));
  };

  it('the same file is the same; another inode or size is not', async () => {
    const want = await file();
    const f = path.join(dir, 'f');
    expect(fstatDifference(want, statSync(f, { bigint: true }))).toBeNull();
    expect(fstatDifference({ ...want, ino: want.ino + 1n }, statSync(f, { bigint: true }))).toMatch(/^another file is at its name now/);
    expect(fstatDifference({ ...want, sizeBytes: 99 }, statSync(f, { bigint: true }))).toBe('its size changed from 99 to 100 bytes');
    expect(fstatDifference(want, statSync(dir, { bigint: true }))).toBe('it was a regular file and is now something else');
  });

  it('a block device with the same number but another size, serial or backing file is not the same disk', () => {
    const want: TargetIdentity = { kind: 'block', dev: 0n, ino: 0n, rdev: 0n, sizeBytes: 1 << 20, serial: 'S1', backingFile: null };
    expect(blockDifference(want, { sizeBytes: 1 << 20, serial: 'S1', backingFile: null })).toBeNull();
    expect(blockDifference(want, { sizeBytes: 1 << 20, serial: 'S2', backingFile: null })).toBe('its serial changed from S1 to S2');
    expect(blockDifference(want, { sizeBytes: 2 << 20, serial: 'S1', backingFile: null })).toBe(
      `its size changed from ${1 << 20} to ${2 << 20} bytes`,
    );
    expect(
      blockDifference({ ...want, serial: null, backingFile: '/a.img' }, { sizeBytes: 1 << 20, serial: null, backingFile: '/b.img' }),
    ).toBe("the loop device's backing file changed from /a.img to /b.img");
  });
});
