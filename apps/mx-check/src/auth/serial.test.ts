import { describe, expect, it } from 'vitest';
import { compareSerial, newestSerial } from './serial.js';

describe('RFC 1982 serial comparison', () => {
  it('orders serials that did not wrap', () => {
    expect(compareSerial(2026010101, 2026010102)).toBe(-1);
    expect(compareSerial(2026010102, 2026010101)).toBe(1);
    expect(compareSerial(7, 7)).toBe(0);
  });

  it('counts a wrapped serial as newer: 4294967295 < 0 < 1', () => {
    expect(compareSerial(4294967295, 0)).toBe(-1);
    expect(compareSerial(0, 4294967295)).toBe(1);
    expect(compareSerial(4294967000, 100)).toBe(-1);
  });

  it('leaves serials exactly 2^31 apart undefined, and orders 2^31 - 1 apart', () => {
    expect(compareSerial(0, 2 ** 31)).toBeNull();
    expect(compareSerial(2 ** 31, 0)).toBeNull();
    expect(compareSerial(0, 2 ** 31 - 1)).toBe(-1);
    expect(compareSerial(0, 2 ** 31 + 1)).toBe(1);
  });

  it('finds the newest across a wrap, and none when the serials cannot be ordered', () => {
    expect(newestSerial([4294967295, 0, 4294967290])).toEqual({ isOrdered: true, newest: 0 });
    expect(newestSerial([5, 5])).toEqual({ isOrdered: true, newest: 5 });
    expect(newestSerial([0, 2 ** 31])).toEqual({ isOrdered: false });
    // spread around the circle: each is newer than the one before, and the first newer than the last
    expect(newestSerial([0, 2 ** 30, 2 ** 31 + 1, 3 * 2 ** 30 + 1])).toEqual({ isOrdered: false });
    expect(newestSerial([])).toEqual({ isOrdered: false });
  });
});
