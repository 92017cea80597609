import { describe, expect, it } from 'vitest';
import { reverseName, rowValues, tsvField, tsvLine, QUERY_COLUMNS } from './row.js';
import { sampleRow } from './testing/sample-row.js';


describe('tsvField', () => {
  it('writes NULL as \\N and numbers as digits', () => {
    expect(tsvField(null)).toBe('\\N');
    expect(tsvField(0)).toBe('0');
    expect(tsvField(-1)).toBe('-1');
  });

  it('escapes backslash, tab, newline, CR and NUL, and nothing else', () => {
    expect(tsvField('a\\b\tc\nd\re\0f')).toBe('a\\\\b\\tc\\nd\\re\\0f');
    expect(tsvField(`it's "quoted" %_`)).toBe(`it's "quoted" %_`);
    expect(tsvField('\\N')).toBe('\\\\N'); // the text \N is not NULL
    expect(tsvField('www\\.x\\032y.example')).toBe('www\\\\.x\\\\032y.example');
  });

  it('joins a line with tabs and a final newline', () => {
    expect(tsvLine(['a', null, 3])).toBe('a\t\\N\t3\n');
  });
});

describe('rowValues', () => {
  it('gives one value per column, flags as 0/1, the reversed name beside the name', () => {
    const v = rowValues(sampleRow({ qname: 'WWW.Example.TEST', tcp: true }), 'ns1', 7, 42);
    expect(v).toHaveLength(QUERY_COLUMNS.length);
    const byCol = Object.fromEntries(QUERY_COLUMNS.map((c, i) => [c, v[i]]));
    expect(byCol).toMatchObject({
      qtime: '2026-11-25 09:38:30.348',
      server: 'ns1',
      qname: 'WWW.Example.TEST',
      qname_rev: 'tset.elpmaxe.www',
      rd: 1,
      tcp: 1,
      do_bit: 0,
      edns: 0,
      cookie: 'present',
      file_id: 7,
      line_no: 42,
    });
  });
});

describe('reverseName', () => {
  it('turns a suffix into a prefix', () => {
    expect(reverseName('a.b.example.com')).toBe('moc.elpmaxe.b.a');
    expect(reverseName('')).toBe('');
  });

  it('keeps every byte of latin1 text, lower-cases, and handles long and wide names the same way', () => {
    expect(reverseName('WWW.Ex\\ample\\.COM\\032\xff\xc0')).toBe('\xe0\xff230\\moc.\\elpma\\xe.www');
    const long = `${'Ab.'.repeat(2000)}x`;
    expect(reverseName(long)).toBe([...long].reverse().join('').toLowerCase());
    expect(reverseName('a.\u0100.B')).toBe('b.\u0101.a');
    // The scratch buffer is reused: a shorter name after a longer one carries nothing over.
    expect(reverseName('abcdef')).toBe('fedcba');
    expect(reverseName('XY')).toBe('yx');
  });
});
