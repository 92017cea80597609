import { describe, expect, it } from 'vitest';
import { counterAt, keystreamAt, newStreamKey } from './keystream.js';

describe('keystreamAt', () => {
  it('regenerates the same bytes at any offset, aligned to 16 or not', () => {
    const k = newStreamKey();
    const whole = keystreamAt(k, 0, 100_000);
    for (const [off, len] of [
      [0, 16],
      [1, 15],
      [17, 1000],
      [4095, 4097],
      [99_999, 1],
    ] as const) {
      expect(keystreamAt(k, off, len).equals(whole.subarray(off, off + len))).toBe(true);
    }
  });

  it('differs between keys (a random pass is not a fixed pattern)', () => {
    expect(keystreamAt(newStreamKey(), 0, 64).equals(keystreamAt(newStreamKey(), 0, 64))).toBe(false);
  });

  it('carries the counter across bytes of the IV', () => {
    const iv = Buffer.from('000000000000000000000000000000ff', 'hex');
    expect(counterAt(iv, 16).toString('hex')).toBe('00000000000000000000000000000100');
    const top = Buffer.from('ffffffffffffffffffffffffffffffff', 'hex');
    expect(counterAt(top, 16).toString('hex')).toBe('00000000000000000000000000000000');
    expect(counterAt(iv, 2 ** 40).toString('hex')).toBe('000000000000000000000010000000ff');
  });

  it('agrees with OpenSSL when the counter carries past 64 bits', () => {
    const k = { key: '11'.repeat(32), iv: '00000000000000fffffffffffffffffe' };
    const whole = keystreamAt(k, 0, 96);
    expect(keystreamAt(k, 40, 40).equals(whole.subarray(40, 80))).toBe(true);
  });
});
