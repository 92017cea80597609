import { describe, expect, it } from 'vitest';
import { chunkSizeFor, fillPattern, hexBytes, MAX_PATTERN_BYTES, parsePatternSpec, planBytes, planWipe } from './plan-wipe.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('parsePatternSpec', () => {
  it('splits passes on commas and joins bytes within a pass', () => {
    expect(parsePatternSpec('0x55,0xAA').map(hex)).toEqual(['55', 'aa']);
    expect(parsePatternSpec('0x92 0x49 0x24').map(hex)).toEqual(['924924']);
    expect(parsePatternSpec('0x924924, ff').map(hex)).toEqual(['924924', 'ff']);
    expect(parsePatternSpec('0xF').map(hex)).toEqual(['0f']);
  });

  it('rejects what is not hex, odd digit runs and empty passes with one clear message', () => {
    expect(() => parsePatternSpec('0xZZ')).toThrow('pattern \'0xZZ\' is not hex (write bytes as 0x55, 0x924924 or "0x92 0x49 0x24")');
    expect(() => parsePatternSpec('0x')).toThrow("pattern '0x' is not hex");
    expect(() => parsePatternSpec('0x555')).toThrow("pattern '0x555' has an odd number of hex digits");
    expect(() => parsePatternSpec('  ')).toThrow('empty pattern (give at least one hex byte, e.g. --pattern 0x55)');
    expect(() => parsePatternSpec('0x55,,0xAA')).toThrow("empty pass in pattern '0x55,,0xAA'");
  });
});

describe('planWipe', () => {
  it('defaults to 0x55 then 0xAA, verifying only the last pass', () => {
    const plan = planWipe({});
    expect(plan.passes.map((p) => (p.source.kind === 'pattern' ? hexBytes(p.source.bytes) : 'random'))).toEqual(['0x55', '0xAA']);
    expect(plan.passes.map((p) => p.verify)).toEqual([false, true]);
  });

  it('has the 35 Gutmann passes with random first and last four', () => {
    const plan = planWipe({ method: 'gutmann' });
    expect(plan.passes).toHaveLength(35);
    const kinds = plan.passes.map((p) => p.source.kind);
    expect(kinds.slice(0, 4)).toEqual(['random', 'random', 'random', 'random']);
    expect(kinds.slice(31)).toEqual(['random', 'random', 'random', 'random']);
    expect(kinds.slice(4, 31).every((k) => k === 'pattern')).toBe(true);
    const p7 = plan.passes[6]?.source;
    expect(p7?.kind === 'pattern' && hexBytes(p7.bytes)).toBe('0x92 0x49 0x24');
  });

  it('verifies every pass for dod, and repeats, zero-last and --verify none compose', () => {
    expect(planWipe({ method: 'dod' }).passes.map((p) => p.verify)).toEqual([true, true, true]);
    const plan = planWipe({ patterns: parsePatternSpec('0x11,0x22'), passes: 2, zeroLast: true, verify: 'none' });
    expect(plan.passes.map((p) => (p.source.kind === 'pattern' ? hex(p.source.bytes) : '?'))).toEqual(['11', '22', '11', '22', '00']);
    expect(plan.passes.some((p) => p.verify)).toBe(false);
    expect(plan.method).toBe('custom+zero-last');
    expect(planBytes(planWipe({ verify: 'all' }), 1000)).toEqual({ write: 2000, verify: 2000 });
  });

  it('refuses an unknown method and a method together with a pattern', () => {
    expect(() => planWipe({ method: 'fast' })).toThrow(
      "unknown method 'fast' (one of: pattern, zero, one, random, dod-short, dod, gutmann; see --list-methods)",
    );
    expect(() => planWipe({ method: 'zero', patterns: [Uint8Array.of(1)] })).toThrow('give either --method or --pattern, not both');
  });
});

describe('fillPattern', () => {
  it('keeps a 3-byte pattern in phase across buffers of any size and offset', () => {
    const pattern = Uint8Array.of(0x92, 0x49, 0x24);
    const whole = new Uint8Array(1000);
    fillPattern(whole, pattern, 0);
    for (const cut of [1, 2, 3, 4, 511, 512, 998]) {
      const a = new Uint8Array(cut);
      const b = new Uint8Array(1000 - cut);
      fillPattern(a, pattern, 0);
      fillPattern(b, pattern, cut);
      expect(hex(Uint8Array.from([...a, ...b]))).toBe(hex(whole));
    }
    expect(whole[999]).toBe(0x92); // 999 % 3 === 0
  });

  it('fills a subarray view without touching bytes around it', () => {
    const backing = new Uint8Array(8);
    fillPattern(backing.subarray(2, 6), Uint8Array.of(1, 2), 1);
    expect([...backing]).toEqual([0, 0, 2, 1, 2, 1, 0, 0]);
  });
});

describe('chunkSizeFor', () => {
  it('is a multiple of both the pattern length and the alignment', () => {
    expect(chunkSizeFor(1, 4 << 20)).toBe(4 << 20);
    const c = chunkSizeFor(3, 4 << 20);
    expect(c % 3).toBe(0);
    expect(c % 4096).toBe(0);
    expect(c).toBeLessThanOrEqual(4 << 20);
    expect(chunkSizeFor(3, 100)).toBe(12288);
  });
});

describe('pattern length cap', () => {
  it('takes a pattern of the longest length and refuses one byte more, with the limit named', () => {
    const hex = (n: number) => `0x${'ab'.repeat(n)}`;
    expect(parsePatternSpec(hex(MAX_PATTERN_BYTES))[0]?.length).toBe(MAX_PATTERN_BYTES);
    expect(() => parsePatternSpec(hex(MAX_PATTERN_BYTES + 1))).toThrow(
      `a pass of ${MAX_PATTERN_BYTES + 1} pattern bytes is over the limit of ${MAX_PATTERN_BYTES} (a pattern repeats: give one period of it)`,
    );
  });
});
