import { describe, expect, it } from 'vitest';
import { parseCidr } from '@toolbox/shared';
import { classifyDomain, type AddressLookup, type DomainFacts, type MxRecord } from './classify-mx.js';

const DOC = [parseCidr('192.0.2.0/24')!, parseCidr('2001:db8::/32')!];
const ok = (...addresses: string[]): AddressLookup => ({ status: 'ok', addresses, cname: [] });

function facts(mx: [number, string][], exchanges: Record<string, AddressLookup> = {}, extra: Partial<DomainFacts> = {}): DomainFacts {
  const records: MxRecord[] = mx.map(([preference, exchange]) => ({ preference, exchange }));
  return {
    domain: 'example.test',
    mx: { status: records.length > 0 ? 'ok' : 'nodata', records },
    exchanges: new Map(Object.entries(exchanges)),
    missingDomains: new Set(),
    ...extra,
  };
}

const codes = (f: DomainFacts) => {
  const c = classifyDomain(f, DOC);
  return [c.verdict, c.findings.map((x) => x.code)];
};

describe('classifyDomain', () => {
  it('a usable target with no findings is ok', () => {
    expect(codes(facts([[10, 'mx.example.test']], { 'mx.example.test': ok('192.0.2.10', '2001:db8::10') }))).toEqual(['ok', []]);
  });
  it('without --treat-as-global a documentation address is not usable', () => {
    const c = classifyDomain(facts([[10, 'mx.example.test']], { 'mx.example.test': ok('192.0.2.10') }));
    expect(c.verdict).toBe('fail');
    expect(c.findings).toEqual([
      {
        code: 'MX_UNROUTABLE',
        severity: 'warn',
        record: 'MX 10 mx.example.test.',
        detail: 'mx.example.test has address 192.0.2.10 (documentation range (RFC 5737))',
      },
    ]);
  });
  it('null MX alone is no_mail; with a sending SPF it is a conflict', () => {
    expect(codes(facts([[0, '']], {}, { spf: ['v=spf1 -all'] }))).toEqual(['no_mail', ['NULL_MX']]);
    const c = classifyDomain(facts([[0, '']], {}, { spf: ['v=spf1 ip4:192.0.2.0/24 -all'] }), DOC);
    expect(c.verdict).toBe('no_mail');
    expect(c.findings[1]).toMatchObject({
      code: 'NULL_MX_SENDER_CONFLICT',
      severity: 'warn',
      record: 'TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    });
  });
  it('null MX beside another MX, or with a non-zero preference, fails', () => {
    expect(
      codes(
        facts(
          [
            [0, ''],
            [10, 'mx.example.test'],
          ],
          { 'mx.example.test': ok('192.0.2.10') },
        ),
      ),
    ).toEqual(['fail', ['NULL_MX_INVALID']]);
    const c = classifyDomain(facts([[10, '']]), DOC);
    expect(c.verdict).toBe('fail');
    expect(c.findings).toEqual([
      { code: 'NULL_MX_INVALID', severity: 'fail', record: 'MX 10 .', detail: 'a null MX has preference 0 (RFC 7505 §3)' },
    ]);
  });
  it('MX to localhost by name, by 127/8, by ::1, by ::ffff:127.0.0.1 and through a CNAME', () => {
    expect(codes(facts([[10, 'localhost']]))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('127.0.0.2') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('::1') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('::ffff:127.0.0.1') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'ok', addresses: [], cname: ['b.test', 'localhost'] } }))).toEqual([
      'fail',
      ['MX_CNAME', 'MX_LOCALHOST'],
    ]);
  });
  it('RFC 5321 §5.1: targets at or above a localhost preference are discarded', () => {
    const ex = { 'good.test': ok('192.0.2.1'), 'lo.test': ok('127.0.0.1') };
    expect(
      codes(
        facts(
          [
            [10, 'lo.test'],
            [20, 'good.test'],
          ],
          ex,
        ),
      ),
    ).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(
      codes(
        facts(
          [
            [10, 'lo.test'],
            [10, 'good.test'],
          ],
          ex,
        ),
      ),
    ).toEqual(['fail', ['MX_LOCALHOST']]);
    const c = classifyDomain(
      facts(
        [
          [5, 'good.test'],
          [10, 'lo.test'],
        ],
        ex,
      ),
      DOC,
    );
    expect(c.verdict).toBe('warn');
    expect(c.findings).toMatchObject([{ code: 'MX_LOCALHOST', severity: 'warn' }]);
  });
  it('private, unroutable and unspecified addresses', () => {
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('10.0.0.25') }))).toEqual(['fail', ['MX_PRIVATE']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('10.0.0.25', '192.0.2.25') }))).toEqual(['warn', ['MX_PRIVATE']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('0.0.0.0', '192.0.2.25') }))).toEqual(['fail', ['MX_UNROUTABLE']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('240.1.1.1') }))).toEqual(['fail', ['MX_UNROUTABLE']]);
  });
  it('IP literal, CNAME, special-use, duplicates, trailing dot', () => {
    expect(codes(facts([[10, '192.0.2.1']]))).toEqual(['fail', ['MX_IP_LITERAL']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'ok', addresses: ['192.0.2.1'], cname: ['b.test'] } }))).toEqual([
      'warn',
      ['MX_CNAME'],
    ]);
    expect(codes(facts([[10, 'mx.broken.invalid']]))).toEqual(['fail', ['MX_SPECIAL_USE', 'MX_UNRESOLVABLE']]);
    expect(
      codes(
        facts(
          [
            [10, 'a.test'],
            [20, 'A.test.'],
          ],
          { 'a.test': ok('192.0.2.1') },
        ),
      ),
    ).toEqual(['warn', ['MX_DUPLICATE_HOST']]);
    expect(
      codes(
        facts([[10, 'mx.example.test.example.test']], { 'mx.example.test.example.test': { status: 'nxdomain', addresses: [], cname: [] } }),
      ),
    ).toEqual(['fail', ['MX_TRAILING_DOT', 'MX_UNRESOLVABLE']]);
  });
  it('unresolvable and dangling exchanges', () => {
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'nodata', addresses: [], cname: [] } }))).toEqual([
      'fail',
      ['MX_UNRESOLVABLE'],
    ]);
    const f = facts(
      [[10, 'mx.gone.test']],
      { 'mx.gone.test': { status: 'nxdomain', addresses: [], cname: [] } },
      { missingDomains: new Set(['gone.test']) },
    );
    expect(codes(f)).toEqual(['fail', ['MX_UNRESOLVABLE', 'MX_DANGLING']]);
  });
  // the last-two-labels rule made the registrable domain of mx.gone.co.uk `co.uk`, which exists:
  // a dangling exchange under a two-level public suffix was never reported
  it('dangling exchange under a public suffix of two labels (co.uk)', () => {
    const f = facts(
      [[10, 'mx.gone.co.uk']],
      { 'mx.gone.co.uk': { status: 'nxdomain', addresses: [], cname: [] } },
      { missingDomains: new Set(['gone.co.uk']) },
    );
    expect(codes(f)).toEqual(['fail', ['MX_UNRESOLVABLE', 'MX_DANGLING']]);
    expect(classifyDomain(f).findings.find((x) => x.code === 'MX_DANGLING')?.detail).toBe(
      "the exchange's registrable domain gone.co.uk does not exist: whoever registers it receives the mail",
    );
  });
  it('no MX: implicit MX, no mail, NXDOMAIN, lookup failure', () => {
    expect(codes(facts([], {}, { implicit: ok('192.0.2.5') }))).toEqual(['warn', ['IMPLICIT_MX']]);
    expect(codes(facts([], {}, { implicit: ok('127.0.0.1') }))).toEqual(['fail', ['IMPLICIT_MX', 'MX_LOCALHOST']]);
    expect(codes(facts([], {}, { implicit: { status: 'nodata', addresses: [], cname: [] } }))).toEqual(['fail', ['NO_MAIL']]);
    expect(codes({ ...facts([]), mx: { status: 'nxdomain', records: [] } })).toEqual(['fail', ['DOMAIN_NXDOMAIN']]);
    const c = classifyDomain({ ...facts([]), mx: { status: 'error', records: [], error: 'SERVFAIL from 127.0.0.1:53' } });
    expect(c).toEqual({
      verdict: 'error',
      mx: [],
      findings: [{ code: 'LOOKUP_FAILED', severity: 'fail', record: null, detail: 'MX lookup: SERVFAIL from 127.0.0.1:53' }],
    });
  });
  it('an exchange whose lookup failed leaves the verdict error unless another target is usable', () => {
    const bad: AddressLookup = { status: 'error', addresses: [], cname: [], error: 'timeout' };
    expect(codes(facts([[10, 'a.test']], { 'a.test': bad }))).toEqual(['error', ['LOOKUP_FAILED']]);
    expect(
      codes(
        facts(
          [
            [10, 'a.test'],
            [20, 'b.test'],
          ],
          { 'a.test': bad, 'b.test': ok('192.0.2.2') },
        ),
      ),
    ).toEqual(['warn', ['LOOKUP_FAILED']]);
  });
  it('reports the mx list sorted by preference with addresses and cname', () => {
    const c = classifyDomain(
      facts(
        [
          [20, 'b.test'],
          [10, 'a.test'],
        ],
        { 'a.test': ok('192.0.2.1'), 'b.test': { status: 'ok', addresses: ['192.0.2.2'], cname: ['c.test'] } },
      ),
      DOC,
    );
    expect(c.mx).toEqual([
      { preference: 10, exchange: 'a.test', addresses: ['192.0.2.1'], cname: [] },
      { preference: 20, exchange: 'b.test', addresses: ['192.0.2.2'], cname: ['c.test'] },
    ]);
  });
});

describe('an IP-literal exchange is judged by the address it names', () => {
  // [the exchange as written, the address it names, the codes that address gets]
  const CASES: [string, string, string[]][] = [
    ['127.0.0.1', '127.0.0.1', ['MX_LOCALHOST']],
    ['127.0.0.1.', '127.0.0.1', ['MX_LOCALHOST']],
    ['[127.0.0.1]', '127.0.0.1', ['MX_LOCALHOST']],
    ['127.0.0.2', '127.0.0.2', ['MX_LOCALHOST']],
    ['127.1', '127.0.0.1', ['MX_LOCALHOST']],
    ['2130706433', '127.0.0.1', ['MX_LOCALHOST']],
    ['127.000.000.001', '127.0.0.1', ['MX_LOCALHOST']],
    ['::1', '::1', ['MX_LOCALHOST']],
    ['::1.', '::1', ['MX_LOCALHOST']],
    ['[::1]', '::1', ['MX_LOCALHOST']],
    ['[IPv6:::1]', '::1', ['MX_LOCALHOST']],
    ['0:0:0:0:0:0:0:1', '::1', ['MX_LOCALHOST']],
    ['::ffff:127.0.0.1', '::ffff:7f00:1', ['MX_LOCALHOST']],
    ['64:ff9b::7f00:1', '64:ff9b::7f00:1', ['MX_LOCALHOST']],
    ['2002:7f00:1::', '2002:7f00:1::', ['MX_LOCALHOST']],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', '2001:0:4136:e378:8000:63bf:80ff:fffe', ['MX_LOCALHOST']],
    ['0.0.0.0', '0.0.0.0', ['MX_UNROUTABLE']],
    ['0.0.0.0.', '0.0.0.0', ['MX_UNROUTABLE']],
    ['0', '0.0.0.0', ['MX_UNROUTABLE']],
    ['0.1.2.3', '0.1.2.3', ['MX_UNROUTABLE']],
    ['::', '::', ['MX_UNROUTABLE']],
    ['[::]', '::', ['MX_UNROUTABLE']],
    ['::ffff:0.0.0.0', '::ffff:0:0', ['MX_UNROUTABLE']],
    ['255.255.255.255', '255.255.255.255', ['MX_UNROUTABLE']],
    ['224.0.0.1', '224.0.0.1', ['MX_UNROUTABLE']],
    ['240.0.0.1', '240.0.0.1', ['MX_UNROUTABLE']],
    ['ff02::1', 'ff02::1', ['MX_UNROUTABLE']],
    ['198.51.100.25', '198.51.100.25', ['MX_UNROUTABLE']],
    ['198.18.0.25', '198.18.0.25', ['MX_UNROUTABLE']],
    ['192.0.0.25', '192.0.0.25', ['MX_UNROUTABLE']],
    ['100::25', '100::25', ['MX_UNROUTABLE']],
    ['3fff::25', '3fff::25', ['MX_UNROUTABLE']],
    ['10.0.0.25', '10.0.0.25', ['MX_PRIVATE']],
    ['10.10.10.10', '10.10.10.10', ['MX_PRIVATE']],
    ['[172.16.0.1]', '172.16.0.1', ['MX_PRIVATE']],
    ['192.168.1.1.', '192.168.1.1', ['MX_PRIVATE']],
    ['100.64.0.1', '100.64.0.1', ['MX_PRIVATE']],
    ['169.254.1.1', '169.254.1.1', ['MX_PRIVATE']],
    ['fd00::25', 'fd00::25', ['MX_PRIVATE']],
    ['[IPv6:fe80::1]', 'fe80::1', ['MX_PRIVATE']],
    ['::ffff:10.0.0.1', '::ffff:a00:1', ['MX_PRIVATE']],
    ['2002:c0a8:0101::', '2002:c0a8:101::', ['MX_PRIVATE']],
    ['64:ff9b::c0a8:101', '64:ff9b::c0a8:101', ['MX_PRIVATE']],
    // treated as global by DOC, as a resolved address would be: only the literal is wrong
    ['192.0.2.1', '192.0.2.1', []],
    ['2001:db8::25', '2001:db8::25', []],
    ['8.8.8.8', '8.8.8.8', []],
  ];

  it.each(CASES)('MX 10 %s: MX_IP_LITERAL and the codes of %s', (literal, address, expected) => {
    const asLiteral = classifyDomain(facts([[10, literal]]), DOC);
    expect(asLiteral.verdict).toBe('fail');
    expect(asLiteral.findings.map((f) => f.code)).toEqual(['MX_IP_LITERAL', ...expected]);
    // the same address resolved from a name gets the same codes
    const resolved = classifyDomain(facts([[10, 'mx.a.test']], { 'mx.a.test': ok(address) }), DOC);
    expect(resolved.findings.map((f) => f.code)).toEqual(expected);
    expect(asLiteral.findings.slice(1).map((f) => f.severity)).toEqual(resolved.findings.map((f) => f.severity));
  });

  it('says which address the literal names and why it is not usable', () => {
    const c = classifyDomain(facts([[10, '127.1.']]), DOC);
    expect(c.findings).toEqual([
      {
        code: 'MX_IP_LITERAL',
        severity: 'fail',
        record: 'MX 10 127.1.',
        detail: 'the exchange must be a host name, not an address (RFC 5321 §5.1)',
      },
      { code: 'MX_LOCALHOST', severity: 'fail', record: 'MX 10 127.1.', detail: 'the exchange is the address 127.0.0.1 (loopback)' },
    ]);
    expect(classifyDomain(facts([[10, '2002:c0a8:0101::']]), DOC).findings[1]?.detail).toBe(
      'the exchange is the address 2002:c0a8:101:: (6to4 address carrying 192.168.1.1: private (RFC 1918))',
    );
  });

  it('a loopback literal discards the targets at or above its preference, as a resolved one does (RFC 5321 §5.1)', () => {
    const good = { 'good.test': ok('192.0.2.1') };
    expect(
      codes(
        facts(
          [
            [10, '127.0.0.1'],
            [20, 'good.test'],
          ],
          good,
        ),
      ),
    ).toEqual(['fail', ['MX_IP_LITERAL', 'MX_LOCALHOST']]);
    expect(
      codes(
        facts(
          [
            [10, '::1'],
            [20, 'good.test'],
          ],
          good,
        ),
      ),
    ).toEqual(['fail', ['MX_IP_LITERAL', 'MX_LOCALHOST']]);
    expect(
      codes(
        facts(
          [
            [5, 'good.test'],
            [10, '127.0.0.1'],
          ],
          good,
        ),
      ),
    ).toEqual(['warn', ['MX_IP_LITERAL', 'MX_LOCALHOST']]);
    // a private literal is no target, but discards nothing
    expect(
      codes(
        facts(
          [
            [10, '10.0.0.1'],
            [20, 'good.test'],
          ],
          good,
        ),
      ),
    ).toEqual(['warn', ['MX_IP_LITERAL', 'MX_PRIVATE']]);
  });

  it('MX 10 0.0.0.0. is no forgotten trailing dot', () => {
    expect(codes(facts([[10, '0.0.0.0.']]))).toEqual(['fail', ['MX_IP_LITERAL', 'MX_UNROUTABLE']]);
    expect(codes(facts([[10, '1.1.1.1.']]))).toEqual(['fail', ['MX_IP_LITERAL']]);
  });

  it('something that only looks like an address is an IP literal and nothing more', () => {
    expect(codes(facts([[10, '999.0.0.1']]))).toEqual(['fail', ['MX_IP_LITERAL']]);
  });
});
