import { describe, expect, it } from 'vitest';
import { buildDomainList, parseListText } from '../check/domain-list.js';
import { domainProblem, isIpLiteral, looksLikeMissingTrailingDot, specialUseTld } from './names.js';

describe('domainProblem', () => {
  it.each([
    ['example.com', null],
    ['Example.COM.', null],
    ['_dmarc.example.com', null],
    ['exa mple.com', 'contains white space'],
    ['192.0.2.1', 'is an IP address, not a domain'],
    ['::1', 'is an IP address, not a domain'],
    [`${'a'.repeat(64)}.com`, 'has a label of 64 characters (at most 63)'],
    [`${'abcdefghi.'.repeat(30)}com`, 'is 303 characters long (at most 253)'],
    ['a..b.com', 'has an empty label (two dots in a row)'],
    ['localhost', 'is a single label (a domain to check has a dot: example.com)'],
    ['ex!ample.com', "label 'ex!ample' has characters a host name cannot have"],
    ['-bad.com', "label '-bad' has characters a host name cannot have"],
  ])('%s → %s', (name, problem) => {
    expect(domainProblem(name)).toBe(problem);
  });
});

describe('name rules', () => {
  it('flags only special-use TLDs that never resolve; .test and .example are ordinary', () => {
    expect(specialUseTld('mx.broken.invalid')).toBe('invalid');
    expect(specialUseTld('printer.local')).toBe('local');
    expect(specialUseTld('mx.example.test')).toBeNull();
    expect(specialUseTld('mx.example')).toBeNull();
  });
  it('detects the forgotten trailing dot', () => {
    expect(looksLikeMissingTrailingDot('mx.example.com.example.com', 'example.com')).toBe(true);
    expect(looksLikeMissingTrailingDot('mx.other.net.example.net', 'example.net')).toBe(true);
    expect(looksLikeMissingTrailingDot('mx1.mail.example.com', 'example.com')).toBe(false);
    expect(looksLikeMissingTrailingDot('mx.example.com', 'example.com')).toBe(false);
  });
  it('an address such as 0.0.0.0 or 10.10.10.10 is not a forgotten trailing dot', () => {
    expect(looksLikeMissingTrailingDot('0.0.0.0', 'example.com')).toBe(false);
    expect(looksLikeMissingTrailingDot('10.10.10.10', 'example.com')).toBe(false);
    expect(looksLikeMissingTrailingDot('1.1.1.1.', '1.1')).toBe(false);
  });
  it('recognises IP literals', () => {
    expect(isIpLiteral('192.0.2.1')).toBe(true);
    expect(isIpLiteral('[192.0.2.1]')).toBe(true);
    expect(isIpLiteral('mx1.example.com')).toBe(false);
    expect(isIpLiteral('127.1.')).toBe(true);
    expect(isIpLiteral('[IPv6:::1]')).toBe(true);
    expect(isIpLiteral('999.0.0.1')).toBe(true);
    expect(isIpLiteral('mx1')).toBe(false);
  });
});

describe('domain list', () => {
  it('skips blanks and comments, checks duplicates once, keeps bad names with their reason', () => {
    const names = parseListText('example.com\n\n  # a comment\nEXAMPLE.com.\nbad name\nexample.org # trailing\r\n');
    expect(names).toEqual(['example.com', 'EXAMPLE.com.', 'bad name', 'example.org']);
    const list = buildDomainList(names);
    expect(list.entries.map((e) => [e.input, e.domain, e.problem])).toEqual([
      ['example.com', 'example.com', null],
      ['bad name', null, 'contains white space'],
      ['example.org', 'example.org', null],
    ]);
    expect([...list.duplicates]).toEqual([['example.com', 2]]);
  });
});
