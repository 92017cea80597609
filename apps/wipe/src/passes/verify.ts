/**
 * Reads a target back and compares it with what the pass wrote: from the medium through O_DIRECT
 * into aligned memory when the probe allowed it, through the page cache otherwise (and says so).
 */
import { constants, promises as fsp } from 'node:fs';
import { alignedBuffer } from './aligned.js';
import type { StreamKey } from './keystream.js';
import { PassData } from './pass-data.js';
import { chunkSizeFor, type PassSource } from './plan-wipe.js';
import { mergeRanges, type ByteRange } from '../report/report.js';

/**
 * Reads of 1 MiB, four in flight while the previous one is compared: the disk always has work
 * queued, and the block being compared is small enough to stay in the CPU's cache. On a 2 GiB file
 * here, alternating with `dd iflag=direct bs=4M`, six runs each: 0.89–1.08× dd (mean 0.98), where
 * two reads of 4 MiB gave 0.80–0.88× (mean 0.85); 512 KiB reads and 8–16 MiB reads were no better.
 */
const READ_SIZE = 1 << 20;
const READS_IN_FLIGHT = 4;

export const MAX_MISMATCH_OFFSETS = 10;

export interface VerifyOutcome {
  /** Bytes from offset 0 read and compared, or skipped. */
  checked: number;
  /** Of those, the bytes of the skipped ranges (not read). */
  skipped: number;
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
  /** Bytes per read (default 1 MiB); tests use small ones to cross block and pattern boundaries. */
  chunk?: number;
  /** Ranges the pass could not write (--continue-on-error): not read, so their errors do not count. */
  skip?: readonly ByteRange[];
  /** Opens the target for reading; tests inject a fake. */
  open?: (path: string, flags: number) => Promise<ReadHandle>;
}

export type ReadHandle = Pick<fsp.FileHandle, 'read' | 'close'>;

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

/** Compares what was read at a target offset with what the pass wrote there. */
type Checker = (actual: Buffer, offset: number, out: VerifyOutcome) => void;

/** Compares in windows against the pass's own bytes (pass-data.ts), as the writer wrote them. */
function checkerFor(data: PassData): Checker {
  return (actual, offset, out) => {
    for (let o = 0; o < actual.length; o += data.window) {
      const m = Math.min(data.window, actual.length - o);
      const expected = data.expectedAt(offset + o, m);
      if (expected.compare(actual, o, o + m, 0, m) !== 0) {
        out.mismatchedBytes += diffOffsets(actual.subarray(o, o + m), expected, offset + o, out.firstMismatches, MAX_MISMATCH_OFFSETS);
      }
    }
  };
}

export async function verifyPass(o: VerifyOptions): Promise<VerifyOutcome> {
  const out: VerifyOutcome = {
    checked: 0,
    skipped: 0,
    mismatchedBytes: 0,
    firstMismatches: [],
    interrupted: false,
    error: null,
    direct: o.direct,
  };
  const check = checkerFor(new PassData(o.source, o.key, 0, o.chunk));
  // Whole 4 KiB blocks, as O_DIRECT wants; the checkers handle any pattern phase at any offset.
  const chunk = chunkSizeFor(1, o.chunk ?? READ_SIZE);
  // One buffer more than reads in flight: the one being compared.
  const bufs = Array.from({ length: READS_IN_FLIGHT + 1 }, () => alignedBuffer(chunk));
  const skip = mergeRanges((o.skip ?? []).map(([a, b]): ByteRange => [a, Math.min(b, o.size)]));
  let fh: ReadHandle;
  try {
    fh = await (o.open ?? ((p, flags) => fsp.open(p, flags)))(o.path, constants.O_RDONLY | (o.direct ? constants.O_DIRECT : 0));
  } catch (err) {
    out.error = err as NodeJS.ErrnoException;
    return out;
  }
  // Reads run ahead in order into their own buffers; a buffer is reused only once its bytes have
  // been compared.
  // `from`: where the skipped bytes before a read start (its own pos when none are skipped).
  type Read = { from: number; pos: number; want: number; buf: Buffer; p: Promise<{ bytesRead: number }> };
  let next = 0;
  let slot = 0;
  let r = 0; // the first skipped range not behind `next`
  const inflight: Read[] = [];
  const issue = (): void => {
    if (next >= o.size || o.signal?.aborted) return;
    const from = next;
    for (let s = skip[r]; s && s[0] <= next; s = skip[++r]) next = Math.max(next, s[1]);
    if (next >= o.size) return;
    const pos = next;
    const want = Math.min(chunk, o.size - pos, (skip[r]?.[0] ?? o.size) - pos);
    // O_DIRECT wants an aligned length; the last block of a file reads short at EOF. Elsewhere a read
    // ends where a skipped range starts (on a logical block boundary), never inside it.
    const ask = o.direct && pos + want === o.size ? Math.min(chunk, Math.ceil(want / 4096) * 4096) : want;
    const buf = bufs[slot++ % bufs.length] as Buffer;
    const p = fh.read(buf, 0, ask, pos);
    p.catch(() => undefined); // awaited below; this only keeps an early rejection from going unhandled
    next = pos + want;
    inflight.push({ from, pos, want, buf, p });
  };
  for (let i = 0; i < READS_IN_FLIGHT; i++) issue();
  try {
    for (let head = inflight.shift(); head; head = inflight.shift()) {
      const { bytesRead } = await head.p;
      if (bytesRead < head.want) {
        const e = new Error(`short read at offset ${head.pos + bytesRead}: the target ends before its size`) as NodeJS.ErrnoException;
        e.code = 'EIO';
        throw e;
      }
      issue(); // into a buffer other than head's, which stays intact while it is compared
      check(head.buf.subarray(0, head.want), head.pos, out);
      out.skipped += head.pos - head.from;
      out.checked = head.pos + head.want;
      o.onProgress?.(out.checked);
    }
    if (next >= o.size && out.checked < o.size) {
      // the target ends in a skipped range
      out.skipped += o.size - out.checked;
      out.checked = o.size;
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
