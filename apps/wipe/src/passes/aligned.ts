/**
 * Memory that O_DIRECT accepts. Node 20's Buffers come from malloc and are only 16-byte aligned; a
 * WebAssembly.Memory is mmap'ed, so its first byte is page-aligned. We probe that this holds (and
 * that the target accepts O_DIRECT at all) at start-up, and fall back to the page cache honestly.
 */
import { constants, promises as fsp } from 'node:fs';

const WASM_PAGE = 65536;

// The project's lib setting has no WebAssembly types; this is the one constructor we use.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
};

/** A Buffer of `size` bytes whose first byte is page-aligned. */
export function alignedBuffer(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE));
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
  return Buffer.from(mem.buffer, 0, size);
}

export type DirectProbe = { ok: true } | { ok: false; reason: string };

/**
 * Can we read `path` with O_DIRECT into aligned memory? Reads one block at offset 0 (or nothing for
 * an empty target, which still proves the open).
 */
export async function probeDirectRead(path: string, blockSize: number, size: number): Promise<DirectProbe> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (err) {
    return {
      ok: false,
      reason: `O_DIRECT open failed (${(err as NodeJS.ErrnoException).code ?? String(err)}): the filesystem does not support it`,
    };
  }
  try {
    if (size > 0) {
      const buf = alignedBuffer(Math.max(blockSize, 4096));
      await fh.read(buf, 0, buf.length, 0);
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `O_DIRECT read failed (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  } finally {
    await fh.close();
  }
}
