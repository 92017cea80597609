import { describe, expect, it } from 'vitest';
import { printable } from './printable.js';

describe('printable', () => {
  it('escapes control characters, DEL and C1, and doubles backslashes', () => {
    expect(printable('evil\x1b]0;owned\x07.example')).toBe('evil\\x1b]0;owned\\x07.example');
    expect(printable('a\r\nb\tc\x7f\x9b')).toBe('a\\x0d\\x0ab\\x09c\\x7f\\x9b');
    expect(printable('back\\slash')).toBe('back\\\\slash');
  });

  it('keeps ordinary text, non-ASCII letters included, as it is', () => {
    expect(printable('www.example.com')).toBe('www.example.com');
    expect(printable('bücher.example ÿ')).toBe('bücher.example ÿ');
  });
});
