/**
 * --continue-on-error on a fake device: an in-memory medium whose writes and reads fail with EIO
 * when they touch chosen byte ranges, as a disk with bad sectors does under O_DIRECT.
 */
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { keystreamAt, newStreamKey } from './keystream.js';
import { fillPattern, type PassSource } from './plan-wipe.js';
import {
  coverageOf,
  formatReport,
  intersectRanges,
  mergeRanges,
  type ByteRange,
  type PassRecord,
  type TargetRecord,
  type WipeReport,
} from '../report/report.js';
import { verifyPass } from './verify.js';
import { writePass, type PassOutcome, type WritePassOptions } from './write-pass.js';

const pat = (...b: number[]): PassSource => ({ kind: 'pattern', bytes: Uint8Array.from(b) });
const eio = (what: string, pos: number): Error => Object.assign(new Error(`EIO: i/o error, ${what} at ${pos}`), { code: 'EIO' });
const touches = (bad: readonly ByteRange[], pos: number, len: number): boolean => bad.some(([a, b]) => pos < b && pos + len > a);

/** A medium of `size` bytes (filled with 0xEE) whose accesses that touch `bad` fail, and a log of them. */
function fakeDevice(size: number, bad: readonly ByteRange[], opts: { failWith?: string } = {}) {
  const mem = Buffer.alloc(size, 0xee);
  const writes: [number, number][] = [];
  const reads: [number, number][] = [];
  const handle = {
    write: async (buf: Buffer, off: number, len: number, pos: number) => {
      writes.push([pos, len]);
      await Promise.resolve();
      if (touches(bad, pos, len)) {
        if (opts.failWith) throw Object.assign(new Error(`${opts.failWith}: write`), { code: opts.failWith });
        throw eio('write', pos);
      }
      buf.copy(mem, pos, off, off + len);
      return { bytesWritten: len };
    },
    datasync: async () => {},
    read: async (buf: Buffer, off: number, len: number, pos: number) => {
      reads.push([pos, len]);
      await Promise.resolve();
      if (touches(bad, pos, Math.min(len, size - pos))) throw eio('read', pos);
      const n = Math.max(0, Math.min(len, size - pos));
      mem.copy(buf, off, pos, pos + n);
      return { bytesRead: n, buffer: buf };
    },
    close: async () => {},
  };
  return { mem, writes, reads, fh: handle as unknown as FileHandle, open: () => Promise.resolve(handle as unknown as FileHandle) };
}

function pass(dev: ReturnType<typeof fakeDevice>, over: Partial<WritePassOptions> & { size: number }): Promise<PassOutcome> {
  return writePass({
    io: { fh: dev.fh, direct: null, align: 512 },
    source: pat(0x55),
    key: null,
    start: 0,
    continueOnError: true,
    ...over,
  });
}

const KiB = 1024;

describe('writePass --continue-on-error', () => {
  it('narrows a failing chunk to its logical blocks, one write at a time, records them and writes the rest', async () => {
    const size = 64 * KiB;
    // 100 bytes inside block 39, and 1040 bytes over blocks 80-82
    const dev = fakeDevice(size, [
      [20_000, 20_100],
      [40_960, 42_000],
    ]);
    const durable: [number, ByteRange[]][] = [];
    const out = await pass(dev, { size, chunk: 16 * KiB, onDurable: (d, u) => durable.push([d, u]) });
    expect(out).toEqual({
      done: size,
      interrupted: false,
      error: null,
      unwritten: [
        [19_968, 20_480],
        [40_960, 42_496],
      ],
    });
    // the four chunks in flight, then chunk 2 and chunk 3 again in 512-byte pieces, in order
    const pieces = (from: number): [number, number][] => Array.from({ length: 32 }, (_, i) => [from + i * 512, 512]);
    expect(dev.writes).toEqual([
      [0, 16 * KiB],
      [16 * KiB, 16 * KiB],
      [32 * KiB, 16 * KiB],
      [48 * KiB, 16 * KiB],
      ...pieces(16 * KiB),
      ...pieces(32 * KiB),
    ]);
    const want = Buffer.alloc(size, 0x55);
    want.fill(0xee, 19_968, 20_480).fill(0xee, 40_960, 42_496);
    expect(dev.mem.equals(want)).toBe(true);
    expect(durable).toEqual([
      [
        size,
        [
          [19_968, 20_480],
          [40_960, 42_496],
        ],
      ],
    ]);
  });

  it('merges failing blocks that touch, across a chunk edge, into one range', async () => {
    const size = 32 * KiB;
    const dev = fakeDevice(size, [
      [16 * KiB - 1000, 16 * KiB + 10],
      [16 * KiB + 600, 16 * KiB + 700],
    ]);
    const out = await pass(dev, { size, chunk: 16 * KiB });
    expect(out.unwritten).toEqual([[16 * KiB - 1024, 16 * KiB + 1024]]);
    expect(out.done).toBe(size);
  });

  it('records a failing unaligned tail up to the end of the target, on the buffered descriptor', async () => {
    const size = 8 * KiB + 700; // the tail [8192, 8892) goes through the page cache
    const direct = fakeDevice(size, [[8 * KiB + 600, 8 * KiB + 601]]);
    const out = await writePass({
      io: { fh: direct.fh, direct: direct.fh, align: 4096 },
      size,
      source: pat(0x92, 0x49, 0x24),
      key: null,
      start: 0,
      chunk: 6 * KiB,
      continueOnError: true,
    });
    expect(out.unwritten).toEqual([[8 * KiB, size]]);
    expect(direct.writes.at(-1)).toEqual([8 * KiB, 700]);
  });

  it('rewrites a random pass from its own buffers: the blocks around a bad one hold the keystream', async () => {
    const size = 48 * KiB;
    const key = newStreamKey();
    const dev = fakeDevice(size, [[20 * KiB, 20 * KiB + 1]]);
    const out = await writePass({
      io: { fh: dev.fh, direct: dev.fh, align: 4096 },
      size,
      source: { kind: 'random' },
      key,
      start: 0,
      chunk: 8 * KiB,
      continueOnError: true,
    });
    expect(out.unwritten).toEqual([[20 * KiB, 24 * KiB]]);
    const want = keystreamAt(key, 0, size);
    want.fill(0xee, 20 * KiB, 24 * KiB);
    expect(dev.mem.equals(want)).toBe(true);
  });

  it('stops with a clear error past the cap on ranges, and reports only the ranges below where it stopped', async () => {
    const size = 64 * KiB;
    // one bad byte every 4 KiB from 2 KiB on: 16 separate ranges
    const bad = Array.from({ length: 16 }, (_, i): ByteRange => [i * 4096 + 2048, i * 4096 + 2049]);
    const dev = fakeDevice(size, bad);
    const out = await pass(dev, { size, chunk: 8 * KiB, maxRanges: 5 });
    expect(out.error?.message).toBe('more than 5 ranges could not be written (a dying device); the next one began at byte 22528');
    expect(out.error?.code).toBeUndefined();
    // the chunk that held the sixth range is not counted as processed
    expect(out.done).toBe(16 * KiB);
    expect(out.unwritten).toEqual([
      [2048, 2560],
      [6144, 6656],
      [10_240, 10_752],
      [14_336, 14_848],
    ]);
  });

  it('stops when one range grows past the cap on a run of failing bytes (a device that is gone)', async () => {
    const size = 64 * KiB;
    const dev = fakeDevice(size, [[8 * KiB, size]]);
    const out = await pass(dev, { size, chunk: 8 * KiB, maxRun: 10 * KiB });
    expect(out.error?.message).toBe(
      'every write from byte 8192 to 18944 failed (more than 10240 bytes in a row: the device is gone or dying)',
    );
    expect(out.done).toBe(16 * KiB);
    expect(out.unwritten).toEqual([[8 * KiB, 16 * KiB]]);
  });

  it("still stops at an error that is not the medium's (ENOSPC), without narrowing", async () => {
    const size = 32 * KiB;
    const dev = fakeDevice(size, [[16 * KiB, size]], { failWith: 'ENOSPC' });
    const out = await pass(dev, { size, chunk: 8 * KiB });
    expect(out.error?.code).toBe('ENOSPC');
    expect(out.done).toBe(16 * KiB);
    expect(out.unwritten).toEqual([]);
    expect(dev.writes.every(([, len]) => len === 8 * KiB)).toBe(true);
  });

  it('without the option, the first EIO stops the pass as before, with no ranges in the outcome', async () => {
    const size = 32 * KiB;
    const dev = fakeDevice(size, [[10 * KiB, 10 * KiB + 1]]);
    const out = await pass(dev, { size, chunk: 8 * KiB, continueOnError: false });
    expect(out.error?.code).toBe('EIO');
    expect(out.done).toBe(8 * KiB);
    expect('unwritten' in out).toBe(false);
  });

  it('on resume keeps the ranges recorded below the start, drops those above it, and finds them again', async () => {
    const size = 32 * KiB;
    const dev = fakeDevice(size, [[20 * KiB, 20 * KiB + 512]]);
    const out = await pass(dev, {
      size,
      chunk: 8 * KiB,
      start: 12 * KiB,
      unwritten: [
        [1024, 1536],
        [12 * KiB - 512, 12 * KiB + 512],
        [20 * KiB, 20 * KiB + 512],
      ],
    });
    expect(out.unwritten).toEqual([
      [1024, 1536],
      [12 * KiB - 512, 12 * KiB],
      [20 * KiB, 20 * KiB + 512],
    ]);
    expect(dev.mem.subarray(12 * KiB, 20 * KiB).every((b) => b === 0x55)).toBe(true);
  });
});

describe('verifyPass skips the unwritten ranges', () => {
  const size = 64 * KiB;
  const bad: ByteRange[] = [
    [20_480, 20_992],
    [40_960, 43_008],
  ];
  async function written(): Promise<ReturnType<typeof fakeDevice>> {
    const dev = fakeDevice(size, bad);
    const out = await pass(dev, { size, chunk: 16 * KiB });
    expect(out.unwritten).toEqual(bad);
    return dev;
  }

  it('reads every other byte and never a skipped one; bytes checked and skipped add up', async () => {
    const dev = await written();
    const v = await verifyPass({
      path: '/fake',
      size,
      source: pat(0x55),
      key: null,
      direct: true,
      chunk: 16 * KiB,
      skip: bad,
      open: dev.open,
    });
    expect(v).toEqual({
      checked: size,
      skipped: 2560,
      mismatchedBytes: 0,
      firstMismatches: [],
      interrupted: false,
      error: null,
      direct: true,
    });
    expect(dev.reads).toEqual([
      [0, 16 * KiB],
      [16 * KiB, 4096],
      [20_992, 16 * KiB],
      [37_376, 3584],
      [43_008, 16 * KiB],
      [59_392, 8192],
    ]);
    // the last read asks for whole 4 KiB blocks (O_DIRECT) and gets the 6144 bytes left
    expect(dev.reads.some(([pos, len]) => touches(bad, pos, Math.min(len, size - pos)))).toBe(false);
  });

  it('still finds a wrong byte outside the ranges, and an unsorted, overlapping skip list is merged', async () => {
    const dev = await written();
    dev.mem[43_008] = 0;
    const v = await verifyPass({
      path: '/fake',
      size,
      source: pat(0x55),
      key: null,
      direct: false,
      chunk: 16 * KiB,
      skip: [
        [41_000, 43_008],
        [20_480, 20_992],
        [40_960, 41_500],
      ],
      open: dev.open,
    });
    expect(v).toMatchObject({ checked: size, skipped: 2560, mismatchedBytes: 1, firstMismatches: [43_008], error: null });
  });

  it('a read error outside the skipped ranges is still an error', async () => {
    const dev = await written();
    const v = await verifyPass({
      path: '/fake',
      size,
      source: pat(0x55),
      key: null,
      direct: false,
      chunk: 16 * KiB,
      skip: [bad[0] as ByteRange],
      open: dev.open,
    });
    expect(v.error?.code).toBe('EIO');
    expect(v.checked).toBe(37_376);
    expect(v.skipped).toBe(512);
  });

  it('a target that ends in a skipped range is checked to its end', async () => {
    const dev = fakeDevice(size, [[60 * KiB, size]]);
    await pass(dev, { size, chunk: 16 * KiB });
    const v = await verifyPass({
      path: '/fake',
      size,
      source: pat(0x55),
      key: null,
      direct: false,
      chunk: 16 * KiB,
      skip: [[60 * KiB, size]],
      open: dev.open,
    });
    expect(v).toMatchObject({ checked: size, skipped: 4 * KiB, mismatchedBytes: 0, error: null });
    expect(dev.reads.at(-1)).toEqual([48 * KiB, 12 * KiB]);
  });
});

describe('the report of unwritten ranges', () => {
  const rec = (over: Partial<PassRecord>): PassRecord => ({
    index: 1,
    pattern: '0x55',
    random: null,
    verifyPlanned: false,
    bytesWritten: 1 << 20,
    status: 'done',
    seconds: 1,
    mbPerSecond: 1,
    verify: null,
    ...over,
  });

  it('merges and intersects ranges', () => {
    expect(
      mergeRanges([
        [10, 20],
        [0, 5],
        [5, 8],
        [15, 30],
        [40, 40],
      ]),
    ).toEqual([
      [0, 8],
      [10, 30],
    ]);
    expect(
      intersectRanges([
        [
          [0, 10],
          [20, 30],
        ],
        [[5, 25]],
      ]),
    ).toEqual([
      [5, 10],
      [20, 25],
    ]);
    expect(intersectRanges([])).toEqual([]);
  });

  it('sums coverage over the passes; a pass from an older report without the field counts as none', () => {
    const passes = [
      rec({
        unwritten: [
          [0, 512],
          [4096, 8192],
        ],
      }),
      rec({ index: 2, unwritten: [[4096, 4608]] }),
      rec({ index: 3 }),
    ];
    expect(coverageOf(passes)).toEqual({ unwrittenBytes: 4608, ranges: 2, firstUnwritten: 0, neverOverwrittenBytes: 0 });
    expect(coverageOf(passes.slice(0, 2))).toEqual({ unwrittenBytes: 4608, ranges: 2, firstUnwritten: 0, neverOverwrittenBytes: 512 });
    expect(coverageOf([rec({})])).toEqual({ unwrittenBytes: 0, ranges: 0, firstUnwritten: null, neverOverwrittenBytes: 0 });
  });

  it('formatReport lists the first five ranges of a pass, then how many more, and the coverage', () => {
    const ranges = Array.from({ length: 7 }, (_, i): ByteRange => [i * 4096, i * 4096 + 512]);
    const passes = [rec({ unwritten: ranges })];
    const t: TargetRecord = {
      target: '/dev/dm-0',
      resolved: '/dev/dm-0',
      kind: 'block',
      model: null,
      serial: null,
      sizeBytes: 1 << 20,
      rotational: true,
      method: 'pattern',
      sanitization: 'Clear',
      writeMode: 'O_DIRECT',
      passes,
      verification: 'not run',
      outcome: 'incomplete',
      error: null,
      removed: false,
      coverage: coverageOf(passes),
      warnings: [],
      startedAt: 'a',
      endedAt: 'b',
    };
    const r: WipeReport = {
      tool: 'wipe',
      version: '0.1.0',
      standard: 'NIST SP 800-88 Rev. 1',
      host: 'h',
      operator: 'op',
      startedAt: 's',
      endedAt: 'e',
      targets: [t],
    };
    const text = formatReport(r);
    expect(text).toContain(
      '\n      unwritten 3584 bytes in 7 range(s): [0, 512), [4096, 4608), [8192, 8704), [12288, 12800), [16384, 16896) … and 2 more\n',
    );
    expect(text).toContain('\n  coverage  3584 bytes in 7 range(s) not overwritten by every pass (first at byte 0); 3584 bytes by none\n');
    expect(text).toContain('\n  outcome   incomplete\n');
    // nothing of this when nothing is unwritten
    expect(formatReport({ ...r, targets: [{ ...t, passes: [rec({ unwritten: [] })], coverage: coverageOf([]) }] })).not.toMatch(
      /unwritten|coverage/,
    );
  });
});

describe('the command line', () => {
  it('documents --continue-on-error and exit code 3 in its help', async () => {
    const io = createMemoryIo({ USER: 'tester' });
    const exit = await runCli('wipe', (i) => buildProgram(i), ['node', 'wipe', '--help'], io);
    expect(exit).toBe(0);
    expect(io.out()).toContain('--continue-on-error');
    expect(io.out()).toContain('\n  3   some bytes could not be overwritten (--continue-on-error): the report lists them\n');
  });
});

describe('a multi-byte pattern around a bad block', () => {
  it('a 3-byte pattern is in phase on both sides of an unwritten range', async () => {
    const size = 24 * KiB;
    const dev = fakeDevice(size, [[9000, 9001]]);
    const out = await pass(dev, { size, chunk: 6 * KiB, source: pat(0x92, 0x49, 0x24) });
    expect(out.unwritten).toEqual([[8704, 9216]]);
    const want = Buffer.alloc(size);
    fillPattern(want, Uint8Array.from([0x92, 0x49, 0x24]), 0);
    want.fill(0xee, 8704, 9216);
    expect(dev.mem.equals(want)).toBe(true);
  });
});
