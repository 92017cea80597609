import { describe, expect, it } from 'vitest';
import { parseCidr } from './address.js';
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
    expect(c.findings).toEqual([{ code: 'MX_UNROUTABLE', severity: 'warn', record: 'MX 10 mx.example.test.', detail: 'mx.example.test has address 192.0.2.10 (documentation range (RFC 5737))' }]);
  });
  it('null MX alone is no_mail; with a sending SPF it is a conflict', () => {
    expect(codes(facts([[0, '']], {}, { spf: ['v=spf1 -all'] }))).toEqual(['no_mail', ['NULL_MX']]);
    const c = classifyDomain(facts([[0, '']], {}, { spf: ['v=spf1 ip4:192.0.2.0/24 -all'] }), DOC);
    expect(c.verdict).toBe('no_mail');
    expect(c.findings[1]).toMatchObject({ code: 'NULL_MX_SENDER_CONFLICT', severity: 'warn', record: 'TXT "v=spf1 ip4:192.0.2.0/24 -all"' });
  });
  it('null MX beside another MX, or with a non-zero preference, fails', () => {
    expect(codes(facts([[0, ''], [10, 'mx.example.test']], { 'mx.example.test': ok('192.0.2.10') }))).toEqual(['fail', ['NULL_MX_INVALID']]);
    const c = classifyDomain(facts([[10, '']]), DOC);
    expect(c.verdict).toBe('fail');
    expect(c.findings).toEqual([{ code: 'NULL_MX_INVALID', severity: 'fail', record: 'MX 10 .', detail: 'a null MX has preference 0 (RFC 7505 §3)' }]);
  });
  it('MX to localhost by name, by 127/8, by ::1, by ::ffff:127.0.0.1 and through a CNAME', () => {
    expect(codes(facts([[10, 'localhost']]))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('127.0.0.2') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('::1') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': ok('::ffff:127.0.0.1') }))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'ok', addresses: [], cname: ['b.test', 'localhost'] } }))).toEqual(['fail', ['MX_CNAME', 'MX_LOCALHOST']]);
  });
  it('RFC 5321 §5.1: targets at or above a localhost preference are discarded', () => {
    const ex = { 'good.test': ok('192.0.2.1'), 'lo.test': ok('127.0.0.1') };
    expect(codes(facts([[10, 'lo.test'], [20, 'good.test']], ex))).toEqual(['fail', ['MX_LOCALHOST']]);
    expect(codes(facts([[10, 'lo.test'], [10, 'good.test']], ex))).toEqual(['fail', ['MX_LOCALHOST']]);
    const c = classifyDomain(facts([[5, 'good.test'], [10, 'lo.test']], ex), DOC);
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
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'ok', addresses: ['192.0.2.1'], cname: ['b.test'] } }))).toEqual(['warn', ['MX_CNAME']]);
    expect(codes(facts([[10, 'mx.broken.invalid']]))).toEqual(['fail', ['MX_SPECIAL_USE', 'MX_UNRESOLVABLE']]);
    expect(codes(facts([[10, 'a.test'], [20, 'A.test.']], { 'a.test': ok('192.0.2.1') }))).toEqual(['warn', ['MX_DUPLICATE_HOST']]);
    expect(codes(facts([[10, 'mx.example.test.example.test']], { 'mx.example.test.example.test': { status: 'nxdomain', addresses: [], cname: [] } }))).toEqual(['fail', ['MX_TRAILING_DOT', 'MX_UNRESOLVABLE']]);
  });
  it('unresolvable and dangling exchanges', () => {
    expect(codes(facts([[10, 'a.test']], { 'a.test': { status: 'nodata', addresses: [], cname: [] } }))).toEqual(['fail', ['MX_UNRESOLVABLE']]);
    const f = facts([[10, 'mx.gone.test']], { 'mx.gone.test': { status: 'nxdomain', addresses: [], cname: [] } }, { missingDomains: new Set(['gone.test']) });
    expect(codes(f)).toEqual(['fail', ['MX_UNRESOLVABLE', 'MX_DANGLING']]);
  });
  it('no MX: implicit MX, no mail, NXDOMAIN, lookup failure', () => {
    expect(codes(facts([], {}, { implicit: ok('192.0.2.5') }))).toEqual(['warn', ['IMPLICIT_MX']]);
    expect(codes(facts([], {}, { implicit: ok('127.0.0.1') }))).toEqual(['fail', ['IMPLICIT_MX', 'MX_LOCALHOST']]);
    expect(codes(facts([], {}, { implicit: { status: 'nodata', addresses: [], cname: [] } }))).toEqual(['fail', ['NO_MAIL']]);
    expect(codes({ ...facts([]), mx: { status: 'nxdomain', records: [] } })).toEqual(['fail', ['DOMAIN_NXDOMAIN']]);
    const c = classifyDomain({ ...facts([]), mx: { status: 'error', records: [], error: 'SERVFAIL from 127.0.0.1:53' } });
    expect(c).toEqual({ verdict: 'error', mx: [], findings: [{ code: 'LOOKUP_FAILED', severity: 'fail', record: null, detail: 'MX lookup: SERVFAIL from 127.0.0.1:53' }] });
  });
  it('an exchange whose lookup failed leaves the verdict error unless another target is usable', () => {
    const bad: AddressLookup = { status: 'error', addresses: [], cname: [], error: 'timeout' };
    expect(codes(facts([[10, 'a.test']], { 'a.test': bad }))).toEqual(['error', ['LOOKUP_FAILED']]);
    expect(codes(facts([[10, 'a.test'], [20, 'b.test']], { 'a.test': bad, 'b.test': ok('192.0.2.2') }))).toEqual(['warn', ['LOOKUP_FAILED']]);
  });
  it('reports the mx list sorted by preference with addresses and cname', () => {
    const c = classifyDomain(facts([[20, 'b.test'], [10, 'a.test']], { 'a.test': ok('192.0.2.1'), 'b.test': { status: 'ok', addresses: ['192.0.2.2'], cname: ['c.test'] } }), DOC);
    expect(c.mx).toEqual([
      { preference: 10, exchange: 'a.test', addresses: ['192.0.2.1'], cname: [] },
      { preference: 20, exchange: 'b.test', addresses: ['192.0.2.2'], cname: ['c.test'] },
    ]);
  });
});
