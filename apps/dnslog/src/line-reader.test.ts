import { describe, expect, it } from 'vitest';
import { readLines, type RawLine } from './line-reader.js';

async function collect(chunks: (string | Buffer)[], max?: number): Promise<RawLine[]> {
  const out: RawLine[] = [];
  async function* src() {
    for (const c of chunks) yield typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
  }
  for await (const l of readLines(src(), max)) out.push(l);
  return out;
}

describe('readLines', () => {
  it('splits across chunk boundaries and numbers lines from 1', async () => {
    const lines = await collect(['ab', 'c\nde', 'f\r\n', '\nlast']);
    expect(lines.map((l) => [l.lineNo, l.text, l.unterminated])).toEqual([
      [1, 'abc', false],
      [2, 'def', false],
      [3, '', false],
      [4, 'last', true],
    ]);
  });

  it('keeps every byte of binary junk (latin1, one char per byte)', async () => {
    const junk = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x80, 0x0a]);
    const [line] = await collect([junk]);
    expect(Buffer.from(line?.text ?? '', 'latin1')).toEqual(junk.subarray(0, 5));
  });

  it('cuts an over-long line into pieces with one line number, keeping all bytes', async () => {
    const lines = await collect(['x'.repeat(25), 'y'.repeat(5) + '\nnext\n'], 10);
    expect(lines.map((l) => [l.lineNo, l.text.length, l.tooLong])).toEqual([
      [1, 10, true],
      [1, 10, true],
      [1, 10, true],
      [2, 'next'.length, false],
    ]);
    expect(lines.slice(0, 3).map((l) => l.text).join('')).toBe('x'.repeat(25) + 'y'.repeat(5));
  });

  it('yields nothing for empty input', async () => {
    expect(await collect([])).toEqual([]);
  });
});
