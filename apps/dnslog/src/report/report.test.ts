import { describe, expect, it } from 'vitest';
import { csvCell, groupByDomain, renderRows, searchQuery, suffixCondition, timelineQuery, topQuery, whereClause } from './report.js';

describe('report SQL', () => {
  it('binds every user value as a parameter', () => {
    const hostile = "x' OR 1=1 --";
    const q = whereClause(
      { since: '2026-11-25 09:00:00.000', server: hostile, client: { kind: 'ip', ip: '2001:db8::1', hex: hostile } },
      'mysql',
    );
    expect(q.sql).toBe('WHERE qtime >= ? AND server = ? AND HEX(INET6_ATON(client_ip)) = ?');
    expect(q.params).toEqual(['2026-11-25 09:00:00.000', hostile, hostile]);
    const s = searchQuery({}, { like: hostile, regex: hostile }, 5, 'mysql');
    expect(s.sql).not.toContain(hostile);
    expect(s.params).toEqual([hostile, hostile, 5]);
  });

  it('makes a suffix search a range on the reversed name, using its index', () => {
    expect(suffixCondition('Example.COM.')).toEqual({
      sql: '(qname_rev = ? OR (qname_rev >= ? AND qname_rev < ?))',
      params: ['moc.elpmaxe', 'moc.elpmaxe.', 'moc.elpmaxe/'],
    });
    expect(searchQuery({}, { suffix: 'example.com' }, 5, 'mysql').sql).toContain('FROM dns_queries FORCE INDEX (qname_rev) WHERE');
    expect(searchQuery({}, { suffix: 'example.com' }, 5, 'sqlite').sql).toContain('INDEXED BY dns_queries_qname_rev');
  });

  it('filters a CIDR block by hex keys of equal width', () => {
    const q = whereClause({ client: { kind: 'range', lo: '0A000000', hi: '0AFFFFFF', hexLength: 8 } }, 'mysql');
    expect(q.sql).toBe('WHERE LENGTH(HEX(INET6_ATON(client_ip))) = ? AND HEX(INET6_ATON(client_ip)) BETWEEN ? AND ?');
    expect(q.params).toEqual([8, '0A000000', '0AFFFFFF']);
  });

  it('buckets the timeline per dialect', () => {
    expect(timelineQuery({}, 'hour', 'mysql').sql).toContain("DATE_FORMAT(qtime, '%Y-%m-%d %H:00') AS bucket");
    expect(timelineQuery({}, 'minute', 'sqlite').sql).toContain('substr(qtime, 1, 16) AS bucket');
    expect(topQuery('qname', {}, null).sql).not.toContain('LIMIT');
  });

  it('groups names by registered domain', () => {
    expect(
      groupByDomain(
        [
          { value: 'www.example.com', queries: 5 },
          { value: 'mail.example.com', queries: 4 },
          { value: 'x.example.org', queries: 6 },
        ],
        10,
      ),
    ).toEqual([
      { domain: 'example.com', queries: 9, names: 2 },
      { domain: 'example.org', queries: 6, names: 1 },
    ]);
  });
  // the short built-in list of second-level labels lacked gv.at (and most of the Public Suffix
  // List): two Austrian agencies were counted as one domain, `gv.at`
  it('groups by the Public Suffix List: names under gv.at, co.uk, kawasaki.jp stay apart', () => {
    const rows = ['www.bmi.gv.at', 'www.bmf.gv.at', 'a.b.example.co.uk.', 'www.city.kawasaki.jp', 'localhost'].map((value) => ({
      value,
      queries: 1,
    }));
    expect(groupByDomain(rows, 10).map((g) => g.domain)).toEqual([
      'bmf.gv.at',
      'bmi.gv.at',
      'city.kawasaki.jp',
      'example.co.uk',
      'localhost',
    ]);
  });
});

describe('renderRows', () => {
  it('CSV: a text cell a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers', () => {
    expect(csvCell('=HYPERLINK("http://x.test","y")')).toBe(`"'=HYPERLINK(""http://x.test"",""y"")"`);
    for (const lead of ['+', '-', '@', '\t']) expect(csvCell(`${lead}cmd|' /C calc'!A0`)).toBe(`'${lead}cmd|' /C calc'!A0`);
    expect(csvCell('www.example.com')).toBe('www.example.com');
    expect(csvCell(-3)).toBe('-3');
    expect(renderRows([{ qname: '=1+1', queries: 2 }], ['qname', 'queries'], 'csv')).toBe("qname,queries\n'=1+1,2\n");
  });

  it('table: prints 1,000,000 rows (regression: Math.max over every cell overflowed the stack past ~120,000)', () => {
    const rows = Array.from({ length: 1_000_000 }, (_, i) => ({ qname: `n${i}.example`, queries: i }));
    const out = renderRows(rows, ['qname', 'queries'], 'table');
    const lines = out.split('\n');
    expect(lines.length).toBe(1_000_000 + 3);
    expect(lines[1]).toBe(`${'-'.repeat('n999999.example'.length)}  ${'-'.repeat(7)}`);
    expect(lines[2]).toBe(`${'n0.example'.padEnd('n999999.example'.length)}        0`);
  });

  it('table: control characters in a name are shown escaped, never sent to the terminal', () => {
    const out = renderRows([{ qname: 'evil\x1b]0;owned\x07.example', queries: 1 }], ['qname', 'queries'], 'table');
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
    expect(out).toContain('evil\\x1b]0;owned\\x07.example');
  });
});
