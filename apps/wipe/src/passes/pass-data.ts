/**
 * The one source of the bytes a pass puts at an offset: the writer takes them in write-sized chunks
 * (`at`), the verifier compares what it reads back against them in windows (`expectedAt`). A pattern
 * is laid out once at the start's phase (for writing) and once as a window plus one period (for
 * comparing at any phase without a copy); a random pass is its AES-CTR keystream at that offset.
 */
import { alignedBuffer } from './aligned.js';
import { keystreamAt, type StreamKey } from './keystream.js';
import { chunkSizeFor, fillPattern, type PassSource } from './plan-wipe.js';

/** Bytes written per call by default (4 MiB); a pattern's chunk holds whole periods of it. */
export const DEFAULT_CHUNK = 4 << 20;

/**
 * A pattern is compared in windows of about this size against one small block that stays in the
 * CPU cache, so that the compare streams only the bytes read, not a second chunk-sized copy.
 */
export const COMPARE_WINDOW = 64 << 10;

export class PassData {
  /** Bytes a writer asks for at a time. */
  readonly chunk: number;
  /** Bytes `expectedAt` serves at a time (a whole number of pattern periods; any length for random). */
  readonly window: number;
  private readonly bytes: Uint8Array | null;
  private readonly startPhase: number;
  private writeChunk: Buffer | null = null;
  private compareBlock: Buffer | null = null;

  constructor(
    source: PassSource,
    private readonly key: StreamKey | null,
    start: number,
    chunk = DEFAULT_CHUNK,
    private readonly memory: (size: number) => Buffer = alignedBuffer,
  ) {
    if (source.kind === 'pattern') {
      this.bytes = source.bytes;
      // A chunk that is a multiple of the pattern length keeps every chunk at the start's phase.
      this.chunk = chunkSizeFor(source.bytes.length, chunk);
      this.window = chunkSizeFor(source.bytes.length, COMPARE_WINDOW, 1);
      this.startPhase = start % source.bytes.length;
    } else {
      if (!key) throw new Error('random pass without a key');
      this.bytes = null;
      this.chunk = chunk;
      this.window = Number.POSITIVE_INFINITY;
      this.startPhase = 0;
    }
  }

  /** Bytes to write at `offset` (`length` ≤ chunk on the chunk grid: a view of one laid-out chunk). */
  at(offset: number, length: number): Buffer {
    const bytes = this.bytes;
    if (bytes === null) return keystreamAt(this.key as StreamKey, offset, length);
    if (offset % bytes.length === this.startPhase && length <= this.chunk) {
      if (this.writeChunk === null) {
        this.writeChunk = this.memory(this.chunk);
        fillPattern(this.writeChunk, bytes, this.startPhase);
      }
      return this.writeChunk.subarray(0, length);
    }
    // Off the usual chunk grid (a file's unaligned tail after direct writes): fill afresh.
    const buf = this.memory(length);
    fillPattern(buf, bytes, offset);
    return buf;
  }

  /** Bytes expected at `offset` when reading back (`length` ≤ window): a view, no copy, for a pattern. */
  expectedAt(offset: number, length: number): Buffer {
    const bytes = this.bytes;
    if (bytes === null) return keystreamAt(this.key as StreamKey, offset, length);
    if (length > this.window) throw new Error(`expectedAt: ${length} bytes is more than the window of ${this.window}`);
    if (this.compareBlock === null) {
      // one period more than a window: the window at `phase` holds the pattern from that phase
      this.compareBlock = Buffer.allocUnsafe(this.window + bytes.length);
      fillPattern(this.compareBlock, bytes, 0);
    }
    const phase = offset % bytes.length;
    return this.compareBlock.subarray(phase, phase + length);
  }
}
