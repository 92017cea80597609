/**
 * The `random` passes: an AES-256-CTR keystream (AES-NI in OpenSSL, GB/s) that can be regenerated
 * at any offset from its key and IV, so that verification and --resume need no copy of the data.
 */
import type * as Crypto from 'node:crypto';

/** node:crypto costs start-up time a pattern wipe does not need: load it on the first random pass. */
function crypto(): typeof Crypto {
  return process.getBuiltinModule('node:crypto');
}

export interface StreamKey {
  /** 32 bytes, hex. */
  key: string;
  /** 16 bytes, hex: the counter block at offset 0. */
  iv: string;
}

export function newStreamKey(): StreamKey {
  return { key: crypto().randomBytes(32).toString('hex'), iv: crypto().randomBytes(16).toString('hex') };
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

const MAX_CHUNK = 16 << 20;
let zeros: Buffer | null = null;

/** `length` keystream bytes as they lie at target `offset` (length ≤ 16 MiB per call). */
export function keystreamAt(k: StreamKey, offset: number, length: number): Buffer {
  if (length > MAX_CHUNK) throw new RangeError(`keystream chunk too large: ${length}`);
  zeros ??= Buffer.alloc(MAX_CHUNK);
  const skip = offset % 16;
  const cipher = crypto().createCipheriv('aes-256-ctr', Buffer.from(k.key, 'hex'), counterAt(Buffer.from(k.iv, 'hex'), offset));
  if (skip > 0) cipher.update(zeros.subarray(0, skip));
  return cipher.update(zeros.subarray(0, length));
}
