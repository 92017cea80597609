import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LINE_BYTES, readLines, type RawLine } from './line-reader.js';

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

  it('gives an over-long line once: its first maxLineBytes bytes and its true length (regression: pieces shared one line number)', async () => {
    const lines = await collect(['x'.repeat(25), 'y'.repeat(5) + '\nnext\n'], 10);
    expect(lines).toEqual([
      { lineNo: 1, text: 'x'.repeat(10), bytes: 30, unterminated: false, tooLong: true },
      { lineNo: 2, text: 'next', bytes: 4, unterminated: false, tooLong: false },
    ]);
  });

  it('an over-long line inside one chunk, and one whose newline starts the next chunk', async () => {
    const lines = await collect(['a\n' + 'z'.repeat(40) + '\nb', '\n' + 'w'.repeat(12), '\n'], 10);
    expect(lines.map((l) => [l.lineNo, l.text, l.bytes, l.tooLong])).toEqual([
      [1, 'a', 1, false],
      [2, 'z'.repeat(10), 40, true],
      [3, 'b', 1, false],
      [4, 'w'.repeat(10), 12, true],
    ]);
  });

  it('a line of exactly maxLineBytes is whole; a CRLF does not count towards the length', async () => {
    const lines = await collect(['q'.repeat(10) + '\r\n', 'r'.repeat(10), '\r', '\n', 's'.repeat(11) + '\r\n'], 10);
    expect(lines.map((l) => [l.text, l.bytes, l.tooLong])).toEqual([
      ['q'.repeat(10), 10, false],
      ['r'.repeat(10), 10, false],
      ['s'.repeat(10), 11, true],
    ]);
  });

  it('counts the true length of ordinary lines in bytes', async () => {
    const lines = await collect([Buffer.from('h\u00e9llo\nw\r\n', 'utf8')]);
    expect(lines.map((l) => [l.text.length, l.bytes])).toEqual([
      [6, 6],
      [1, 1],
    ]);
  });

  it('a last line without its newline is flagged unterminated and kept byte for byte (its CR too)', async () => {
    const lines = await collect(['ok\ncut off\r']);
    expect(lines[1]).toEqual({ lineNo: 2, text: 'cut off\r', bytes: 8, unterminated: true, tooLong: false });
  });

  it('streams a 3 GiB zero-filled tail without a newline as one line, in bounded memory', async () => {
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    const chunks = 768;
    async function* zeros() {
      yield Buffer.from('first\n');
      for (let i = 0; i < chunks; i++) yield chunk;
    }
    const out: RawLine[] = [];
    let peak = 0;
    for await (const l of readLines(zeros())) {
      out.push(l);
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    expect(out.map((l) => [l.lineNo, l.text.length, l.bytes, l.unterminated, l.tooLong])).toEqual([
      [1, 5, 5, false, false],
      [2, DEFAULT_MAX_LINE_BYTES, chunk.length * chunks, true, true],
    ]);
    expect(out[1]?.text).toBe('\0'.repeat(DEFAULT_MAX_LINE_BYTES));
    expect(peak).toBeLessThan(256 * 1024 * 1024);
  }, 60_000);

  it('yields nothing for empty input', async () => {
    expect(await collect([])).toEqual([]);
  });
});
