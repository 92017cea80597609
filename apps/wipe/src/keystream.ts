/**
 * The `random` passes: an AES-256-CTR keystream (AES-NI in OpenSSL, GB/s) that can be regenerated
 * at any offset from its key and IV, so that verification and --resume need no copy of the data.
 */
import { createCipheriv, randomBytes } from 'node:crypto';

export interface StreamKey {
  /** 32 bytes, hex. */
  key: string;
  /** 16 bytes, hex: the counter block at offset 0. */
  iv: string;
}

export function newStreamKey(): StreamKey {
  return { key: randomBytes(32).toString('hex'), iv: randomBytes(16).toString('hex') };
}

/** The counter block for byte `offset`: iv + floor(offset / 16), as a 128-bit big-endian add. */
export function counterAt(iv: Buffer, offset: number): Buffer {
  const out = Buffer.from(iv);
  let carry = BigInt(Math.floor(offset / 16));
  for (let i = 15; i >= 0 && carry > 0n; i--) {
    const sum = BigInt(out[i] ?? 0) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

const ZEROS = Buffer.alloc(16 << 20);

/** `length` keystream bytes as they lie at target `offset` (length ≤ 16 MiB per call). */
export function keystreamAt(k: StreamKey, offset: number, length: number): Buffer {
  const skip = offset % 16;
  const cipher = createCipheriv('aes-256-ctr', Buffer.from(k.key, 'hex'), counterAt(Buffer.from(k.iv, 'hex'), offset));
  if (skip > 0) cipher.update(ZEROS.subarray(0, skip));
  if (length <= ZEROS.length) return cipher.update(ZEROS.subarray(0, length));
  throw new RangeError(`keystream chunk too large: ${length}`);
}
