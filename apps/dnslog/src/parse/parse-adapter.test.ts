import { describe, expect, it } from 'vitest';
import { readLineBatches } from './line-reader.js';
import { lineParserFor } from './parse-adapter.js';
import type { ParsedLine } from '../store/store.js';

const MTIME = new Date(2026, 10, 26, 12, 0, 0).getTime();

/** A file's bytes as a ship reads them: split into lines, then parsed with the file's context. */
async function parseFile(bytes: Buffer, maxLineBytes?: number, chunkSize = 7): Promise<ParsedLine[]> {
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  }
  const parse = lineParserFor({ mtimeMs: MTIME });
  const out: ParsedLine[] = [];
  for await (const batch of readLineBatches(chunks(), maxLineBytes)) out.push(...batch.map(parse));
  return out;
}

const kinds = (lines: ParsedLine[]) => lines.map((l) => (l.kind === 'row' ? [l.lineNo, 'row'] : [l.lineNo, l.reason]));

// One line of each shape: 9.3-9.8 (with /key and a view), 9.9, 9.10, 9.11+ (with ECS), syslog, RFC 5424.
const SHAPES = [
  'client 10.0.0.1#1234/key k1: view external: query: example.com IN TXT +SE',
  '25-Nov-2006 09:38:30.348 queries: info: client 10.0.0.1#1234: query: www.example.com IN AAAA -E',
  'client 192.0.2.10#53124 (www.example.com): query: www.example.com IN A +ED',
  'client 192.0.2.10#53124 (www.example.com): query: www.example.com IN A +EDC (192.0.2.53)',
  '2026-11-25T09:38:30.348Z client @0x7f 198.51.100.7#11111 (cdn.example.com): query: cdn.example.com IN A +E(0)K (192.0.2.53) [ECS 203.0.113.0/24/0]',
  '<30>Nov  5 09:38:30 ns1 named[1234]: client @0x7f 192.0.2.10#53124 (example.com): query: example.com IN A +E(0)DV (192.0.2.53)',
  '<30>1 2026-11-25T08:38:30.348Z ns1 named 1234 - - client @0x7f 192.0.2.10#5 (example.com): query: example.com IN A +SE(0)TDC',
];

describe('lineParserFor', () => {
  it('gives an over-long line one too_long reject with its start and its true length (regression: a reject per piece, one line number)', async () => {
    const good = `${SHAPES[0]}\n`;
    const long = 'x'.repeat(500);
    const lines = await parseFile(Buffer.from(`${good}${long}\n${good}`), 200);
    expect(kinds(lines)).toEqual([
      [1, 'row'],
      [2, 'too_long'],
      [3, 'row'],
    ]);
    expect(lines[1]).toEqual({ kind: 'reject', lineNo: 2, reason: 'too_long', line: 'x'.repeat(200), bytes: 500 });
  });

  it('a cut last line is a truncated reject, kept byte for byte, even where the parser alone would take it for a row', async () => {
    const cut = 'client 10.0.0.1#1234: query: example.com IN A +E';
    const lines = await parseFile(Buffer.from(`${SHAPES[1]}\n${cut}`, 'latin1'));
    expect(kinds(lines)).toEqual([
      [1, 'row'],
      [2, 'truncated'],
    ]);
    expect(lines[1]).toEqual({ kind: 'reject', lineNo: 2, reason: 'truncated', line: cut });
  });

  it('every cut of every shape, as the last line of a file, is truncated: never a row (regression: a 9.3 line cut in its flags was a row)', async () => {
    for (const shape of SHAPES) {
      expect(kinds(await parseFile(Buffer.from(`${shape}\n`))), shape).toEqual([[1, 'row']]);
      for (let n = 1; n <= shape.length; n++) {
        const lines = await parseFile(Buffer.from(`${SHAPES[2]}\n${shape.slice(0, n)}`), undefined, 64);
        expect(kinds(lines), shape.slice(0, n)).toEqual([
          [1, 'row'],
          [2, 'truncated'],
        ]);
      }
    }
  });

  it('a zero-filled tail without a newline is one too_long reject with its true length', async () => {
    const tail = Buffer.alloc(5000);
    const lines = await parseFile(Buffer.concat([Buffer.from(`${SHAPES[3]}\n`), tail]), 1024, 512);
    expect(kinds(lines)).toEqual([
      [1, 'row'],
      [2, 'too_long'],
    ]);
    expect(lines[1]).toEqual({ kind: 'reject', lineNo: 2, reason: 'too_long', line: '\0'.repeat(1024), bytes: 5000 });
  });

  it('an ordinary reject carries no length of its own (its line is whole)', async () => {
    const lines = await parseFile(Buffer.from('hello world\n'));
    expect(lines).toEqual([{ kind: 'reject', lineNo: 1, reason: 'not_query', line: 'hello world' }]);
  });
});
