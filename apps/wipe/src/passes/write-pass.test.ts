import { constants, mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newStreamKey, keystreamAt } from './keystream.js';
import { fillPattern, type PassSource } from './plan-wipe.js';
import { verifyPass } from './verify.js';
import { FLUSH_EVERY, writePass } from './write-pass.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wipe-pass-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const pat = (...b: number[]): PassSource => ({ kind: 'pattern', bytes: Uint8Array.from(b) });

function expected(size: number, bytes: number[]): Buffer {
  const b = Buffer.alloc(size);
  fillPattern(b, Uint8Array.from(bytes), 0);
  return b;
}

async function write(
  file: string,
  source: PassSource,
  opts: { start?: number; chunk?: number; key?: ReturnType<typeof newStreamKey> | null; signal?: AbortSignal } = {},
) {
  const size = (await fsp.stat(file)).size;
  const fh = await fsp.open(file, 'r+');
  try {
    return await writePass({
      io: { fh, direct: null, align: 4096 },
      size,
      source,
      key: opts.key ?? null,
      start: opts.start ?? 0,
      chunk: opts.chunk,
      signal: opts.signal,
    });
  } finally {
    await fh.close();
  }
}

describe('writePass + verifyPass on files', () => {
  it('writes a 3-byte pattern in phase to the last byte of a size that is no multiple of chunk or pattern', async () => {
    const file = path.join(dir, 't.img');
    const size = 3 * 12288 + 4097; // chunk 12288 for a 3-byte pattern; 4097 is neither
    writeFileSync(file, Buffer.alloc(size, 0xee));
    const out = await write(file, pat(0x92, 0x49, 0x24), { chunk: 12288 });
    expect(out).toEqual({ done: size, interrupted: false, error: null });
    const got = readFileSync(file);
    expect(got.length).toBe(size);
    expect(got.equals(expected(size, [0x92, 0x49, 0x24]))).toBe(true);
    const v = await verifyPass({ path: file, size, source: pat(0x92, 0x49, 0x24), key: null, direct: false, chunk: 12288 });
    expect(v).toMatchObject({ checked: size, mismatchedBytes: 0, error: null });
  });

  it('resumes from an offset that is not a multiple of the pattern, leaving the bytes before it alone', async () => {
    const file = path.join(dir, 'r.img');
    writeFileSync(file, Buffer.alloc(50_000, 0xee));
    await write(file, pat(0x01, 0x02, 0x03, 0x04, 0x05), { start: 12_345, chunk: 8192 });
    const got = readFileSync(file);
    expect(got.subarray(0, 12_345).every((b) => b === 0xee)).toBe(true);
    expect(got.subarray(12_345).equals(expected(50_000, [1, 2, 3, 4, 5]).subarray(12_345))).toBe(true);
  });

  it('reports the count and first offsets of bytes that differ from the pass', async () => {
    const file = path.join(dir, 'm.img');
    const size = 100_000;
    writeFileSync(file, Buffer.alloc(size, 0x55));
    const fh = await fsp.open(file, 'r+');
    await fh.write(Buffer.from([0, 0]), 0, 2, 70_001);
    await fh.write(Buffer.from([0]), 0, 1, 99_999);
    await fh.close();
    const v = await verifyPass({ path: file, size, source: pat(0x55), key: null, direct: false, chunk: 16384 });
    expect(v).toMatchObject({ checked: size, mismatchedBytes: 3, firstMismatches: [70_001, 70_002, 99_999] });
  });

  it('finds bytes out of phase of a 3-byte pattern across chunk and compare-window edges', async () => {
    const file = path.join(dir, 'p.img');
    const size = 300_001;
    const good = expected(size, [0x92, 0x49, 0x24]);
    // A byte that holds the pattern's next byte instead: wrong only by phase.
    const bad = Buffer.from(good);
    for (const at of [4095, 4096, 65_537, 200_000]) bad[at] = good[at + 1] as number;
    writeFileSync(file, bad);
    // 4096 is no multiple of 3, so each chunk starts at another phase.
    const v = await verifyPass({ path: file, size, source: pat(0x92, 0x49, 0x24), key: null, direct: false, chunk: 4096 });
    expect(v).toMatchObject({ checked: size, mismatchedBytes: 4, firstMismatches: [4095, 4096, 65_537, 200_000], error: null });
    writeFileSync(file, good);
    const ok = await verifyPass({ path: file, size, source: pat(0x92, 0x49, 0x24), key: null, direct: false, chunk: 4096 });
    expect(ok).toMatchObject({ checked: size, mismatchedBytes: 0, firstMismatches: [] });
  });

  it('writes and verifies a random pass that it can regenerate from its key', async () => {
    const file = path.join(dir, 'k.img');
    const size = 70_001;
    writeFileSync(file, Buffer.alloc(size));
    const key = newStreamKey();
    await write(file, { kind: 'random' }, { key, chunk: 16384 });
    expect(readFileSync(file).equals(keystreamAt(key, 0, size))).toBe(true);
    const v = await verifyPass({ path: file, size, source: { kind: 'random' }, key, direct: false, chunk: 8192 });
    expect(v.mismatchedBytes).toBe(0);
    const wrong = await verifyPass({ path: file, size, source: { kind: 'random' }, key: newStreamKey(), direct: false });
    expect(wrong.mismatchedBytes).toBeGreaterThan(size * 0.9);
  });

  it('verifies with O_DIRECT into aligned memory when the filesystem allows it, reading a short last block', async () => {
    const file = path.join(dir, 'd.img');
    const size = 3 * 4096 + 100;
    writeFileSync(file, expected(size, [0xaa]));
    const v = await verifyPass({ path: file, size, source: pat(0xaa), key: null, direct: true, chunk: 8192 });
    // A filesystem without O_DIRECT (ramfs) fails the open, and says so instead of pretending.
    if (v.error) expect(v.error.code).toBe('EINVAL');
    else expect(v).toMatchObject({ checked: size, mismatchedBytes: 0, direct: true });
  });

  it('writes the aligned body with O_DIRECT and the unaligned tail through the page cache, in phase', async () => {
    const file = path.join(dir, 'o.img');
    const size = 5 * 4096 + 1001;
    writeFileSync(file, Buffer.alloc(size, 0xee));
    const fh = await fsp.open(file, 'r+');
    const direct = await fsp.open(file, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
    try {
      const out = await writePass({
        io: { fh, direct, align: 4096 },
        size,
        source: pat(0x92, 0x49, 0x24),
        key: null,
        start: 0,
        chunk: 12288,
      });
      expect(out.done).toBe(size);
      const key = newStreamKey();
      const out2 = await writePass({
        io: { fh, direct, align: 4096 },
        size: size - 1000,
        source: { kind: 'random' },
        key,
        start: 0,
        chunk: 8192,
      });
      expect(out2.done).toBe(size - 1000);
      const got = readFileSync(file);
      expect(got.subarray(0, size - 1000).equals(keystreamAt(key, 0, size - 1000))).toBe(true);
      expect(got.subarray(size - 1000).equals(expected(size, [0x92, 0x49, 0x24]).subarray(size - 1000))).toBe(true);
    } finally {
      await fh.close();
      await direct?.close();
    }
  });

  it('stops at an I/O error and says which bytes were written before it (a device that disappeared)', async () => {
    const written: number[] = [];
    const failing = {
      write: async (_b: Buffer, _o: number, len: number, pos: number) => {
        if (pos >= 3 * 4096) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        written.push(pos);
        return { bytesWritten: len };
      },
      datasync: async () => {},
    } as unknown as FileHandle;
    const out = await writePass({
      io: { fh: failing, direct: null, align: 4096 },
      size: 10 * 4096,
      source: pat(0x55),
      key: null,
      start: 0,
      chunk: 4096,
    });
    expect(out.done).toBe(3 * 4096);
    expect(out.interrupted).toBe(false);
    expect(out.error?.code).toBe('EIO');
    expect(written).toEqual([0, 4096, 8192]);
  });

  it('survives a later write failing while an earlier one is still in flight (ENOSPC on a full loop backing store)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const slowFirst = {
        write: async (_b: Buffer, _o: number, len: number, pos: number) => {
          if (pos === 0) {
            await new Promise((r) => setTimeout(r, 50));
            return { bytesWritten: len };
          }
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        },
        datasync: async () => {},
      } as unknown as FileHandle;
      const out = await writePass({
        io: { fh: slowFirst, direct: null, align: 4096 },
        size: 10 * 4096,
        source: pat(0x55),
        key: null,
        start: 0,
        chunk: 4096,
      });
      await new Promise((r) => setTimeout(r, 10));
      expect(out.done).toBe(4096);
      expect(out.error?.code).toBe('ENOSPC');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('flushes behind the writes every FLUSH_EVERY bytes, and a failing flush (EIO) stops the pass', async () => {
    const size = 2 * FLUSH_EVERY + (8 << 20);
    let flushes = 0;
    let failFlush = false;
    const fake = {
      write: async (_b: Buffer, _o: number, len: number) => ({ bytesWritten: len }),
      datasync: async () => {
        flushes++;
        if (failFlush) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      },
    } as unknown as FileHandle;
    const ok = await writePass({ io: { fh: fake, direct: null, align: 4096 }, size, source: pat(0x55), key: null, start: 0 });
    expect(ok).toEqual({ done: size, interrupted: false, error: null });
    expect(flushes).toBe(3); // after 256 MiB, after 512 MiB, and the final one
    flushes = 0;
    failFlush = true;
    const bad = await writePass({ io: { fh: fake, direct: null, align: 4096 }, size, source: pat(0x55), key: null, start: 0 });
    expect(bad.error?.code).toBe('EIO');
    expect(bad.done).toBeLessThan(size);
    expect(flushes).toBe(1);
  });

  it('stops after the writes in flight when the signal fires and says how far it got', async () => {
    const file = path.join(dir, 's.img');
    writeFileSync(file, Buffer.alloc(1 << 20, 0xee));
    const ac = new AbortController();
    ac.abort();
    const out = await write(file, pat(0x55), { chunk: 4096, signal: ac.signal });
    expect(out).toEqual({ done: 0, interrupted: true, error: null });
    expect(readFileSync(file).every((b) => b === 0xee)).toBe(true);
  });
});
