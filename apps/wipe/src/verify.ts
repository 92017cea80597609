/**
 * Reads a target back and compares it with what the pass wrote: from the medium through O_DIRECT
 * into aligned memory when the probe allowed it, through the page cache otherwise (and says so).
 */
import { constants, promises as fsp } from 'node:fs';
import { alignedBuffer } from './aligned.js';
import type { StreamKey } from './keystream.js';
import type { PassSource } from './plan-wipe.js';
import { DEFAULT_CHUNK, PassData } from './write-pass.js';

/** Reads in flight: two kept the device busy while one is compared; more only added contention. */
const DEPTH = 2;

export const MAX_MISMATCH_OFFSETS = 10;

export interface VerifyOutcome {
  /** Bytes read and compared. */
  checked: number;
  mismatchedBytes: number;
  /** First mismatching offsets, at most MAX_MISMATCH_OFFSETS. */
  firstMismatches: number[];
  interrupted: boolean;
  error: NodeJS.ErrnoException | null;
  direct: boolean;
}

export interface VerifyOptions {
  path: string;
  size: number;
  source: PassSource;
  key: StreamKey | null;
  direct: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number) => void;
  chunk?: number;
}

/** Offsets where `actual` differs from `expected`, relative to `base`. Only called on a mismatch. */
export function diffOffsets(actual: Uint8Array, expected: Uint8Array, base: number, into: number[], limit: number): number {
  let count = 0;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      count++;
      if (into.length < limit) into.push(base + i);
    }
  }
  return count;
}

export async function verifyPass(o: VerifyOptions): Promise<VerifyOutcome> {
  const data = new PassData(o.source, o.key, 0, o.chunk ?? DEFAULT_CHUNK);
  const out: VerifyOutcome = { checked: 0, mismatchedBytes: 0, firstMismatches: [], interrupted: false, error: null, direct: o.direct };
  const bufs = Array.from({ length: DEPTH }, () => alignedBuffer(data.chunk));
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(o.path, constants.O_RDONLY | (o.direct ? constants.O_DIRECT : 0));
  } catch (err) {
    out.error = err as NodeJS.ErrnoException;
    return out;
  }
  // Reads run DEPTH ahead into their own aligned buffers; comparison goes in order, so a buffer is
  // only reused once its bytes have been compared.
  const inflight: { pos: number; want: number; buf: Buffer; p: Promise<{ bytesRead: number }> }[] = [];
  let next = 0;
  let slot = 0;
  const issue = (): void => {
    const pos = next;
    const want = Math.min(data.chunk, o.size - pos);
    // O_DIRECT wants an aligned length; the last block of a file reads short at EOF.
    const ask = o.direct ? Math.min(data.chunk, Math.ceil(want / 4096) * 4096) : want;
    const buf = bufs[slot++ % DEPTH] as Buffer;
    const p = fh.read(buf, 0, ask, pos);
    p.catch(() => undefined); // awaited in order below; this only keeps an early rejection from going unhandled
    inflight.push({ pos, want, buf, p });
    next = pos + want;
  };
  try {
    for (;;) {
      while (inflight.length < DEPTH && next < o.size && !o.signal?.aborted) issue();
      const head = inflight.shift();
      if (!head) break;
      const { bytesRead } = await head.p;
      if (bytesRead < head.want) {
        const e = new Error(`short read at offset ${head.pos + bytesRead}: the target ends before its size`) as NodeJS.ErrnoException;
        e.code = 'EIO';
        throw e;
      }
      const actual = head.buf.subarray(0, head.want);
      const expected = data.at(head.pos, head.want);
      if (!actual.equals(expected)) {
        out.mismatchedBytes += diffOffsets(actual, expected, head.pos, out.firstMismatches, MAX_MISMATCH_OFFSETS);
      }
      out.checked = head.pos + head.want;
      o.onProgress?.(out.checked);
    }
    if (out.checked < o.size && o.signal?.aborted) out.interrupted = true;
  } catch (err) {
    out.error = err as NodeJS.ErrnoException;
    await Promise.allSettled(inflight.map((x) => x.p));
  } finally {
    await fh.close();
  }
  return out;
}
