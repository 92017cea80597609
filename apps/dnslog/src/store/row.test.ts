import { describe, expect, it } from 'vitest';
import { FIELD_LIMITS, oversizedField, reverseName, rowValues, tsvField, tsvLine, QUERY_COLUMNS } from './row.js';
import { lineParserFor } from '../parse/parse-adapter.js';
import { mysqlSchema } from './schema.js';
import { sampleRow } from '../testing/sample-row.js';

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

describe('FIELD_LIMITS (regression: LOAD DATA LOCAL cut an over-long view, signer, flags, ecs or qtype with only a warning)', () => {
  const line = (over: { view?: string; signer?: string; qtype?: string; flags?: string; ecs?: string; qname?: string }) =>
    `25-Nov-2026 09:38:30.348 client @0x7f 192.0.2.10#53124${over.signer === undefined ? '' : `/key ${over.signer}`} (x): ` +
    `${over.view === undefined ? '' : `view ${over.view}: `}query: ${over.qname ?? 'example.com'} IN ${over.qtype ?? 'A'} ${over.flags ?? '+E(0)K'} (192.0.2.53)` +
    `${over.ecs === undefined ? '' : ` [ECS ${over.ecs}]`}`;
  const parse = (text: string) =>
    lineParserFor({ mtimeMs: Date.UTC(2026, 10, 26) })({ lineNo: 7, text, tooLong: false, unterminated: false, bytes: text.length });

  it('matches the MariaDB column widths', () => {
    const ddl = mysqlSchema(new Date(Date.UTC(2026, 10, 25))).join('\n');
    const width = (col: string) => Number(new RegExp(`\\n\\s+${col} VARCHAR\\((\\d+)\\)`).exec(ddl)?.[1]);
    expect(FIELD_LIMITS).toEqual({
      clientIp: width('client_ip'),
      view: width('view'),
      qname: width('qname'),
      qclass: width('qclass'),
      qtype: width('qtype'),
      flags: width('flags'),
      destIp: width('dest_ip'),
      ecs: width('ecs'),
      signer: width('signer'),
    });
  });

  it('makes a line with a field wider than its column a field_too_long reject, kept whole; a field at the limit is a row', () => {
    const cases = [
      { view: 'v'.repeat(256) },
      { signer: 'k'.repeat(256) },
      { qtype: `TYPE${'1'.repeat(13)}` },
      { flags: `+${'E'.repeat(32)}` },
      { ecs: `203.0.113.0/24/0${'0'.repeat(49)}` },
      { qname: `${'a'.repeat(1021)}.com` },
    ];
    for (const over of cases) {
      const text = line(over);
      expect(parse(text), JSON.stringify(over)).toEqual({ kind: 'reject', lineNo: 7, reason: 'field_too_long', line: text });
    }
    const fits = [
      { view: 'v'.repeat(255) },
      { signer: 'k'.repeat(255) },
      { qtype: `TYPE${'1'.repeat(12)}` },
      { flags: `+${'E'.repeat(31)}` },
      { qname: `${'a'.repeat(1020)}.com` },
    ];
    for (const over of fits) expect(parse(line(over)).kind, JSON.stringify(over)).toBe('row');
    expect(oversizedField(sampleRow())).toBeNull();
    expect(oversizedField(sampleRow({ ecs: 'e'.repeat(65) }))).toBe('ecs');
  });
});
