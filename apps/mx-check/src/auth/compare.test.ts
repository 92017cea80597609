import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../check/check.js';
import { authFindings, withAuthoritative, type AuthReport, type ServerAnswer } from './compare.js';

const ok = (ns: string, address: string, serial: number, mx: string[], rcode = 'NOERROR'): ServerAnswer => ({
  ns,
  address,
  lame: null,
  serial,
  rcode,
  mx,
});
const lame = (ns: string, address: string, how: NonNullable<ServerAnswer['lame']>['how'], detail: string): ServerAnswer => ({
  ns,
  address,
  lame: { how, detail },
  serial: null,
  rcode: null,
  mx: null,
});
const report = (servers: ServerAnswer[], unresolvable: AuthReport['unresolvable'] = []): AuthReport => ({
  zone: 'example.test',
  ns: [...new Set([...servers.map((s) => s.ns), ...unresolvable.map((u) => u.ns)])].sort(),
  servers,
  unresolvable,
});
const brief = (r: AuthReport, domain = 'example.test') => authFindings(domain, r).map((f) => `${f.code} ${f.record ?? '-'}: ${f.detail}`);

describe('authoritative comparison', () => {
  it('finds nothing when every server agrees', () => {
    expect(
      brief(report([ok('a.ns.test', '192.0.2.1', 5, ['10 mx.example.test']), ok('b.ns.test', '192.0.2.2', 5, ['10 mx.example.test'])])),
    ).toEqual([]);
  });

  it('names each server and what it says when the MX sets differ, and the one with the older serial', () => {
    const r = report([
      ok('a.ns.test', '192.0.2.1', 6, ['10 mx1.example.test']),
      ok('b.ns.test', '192.0.2.2', 5, ['10 mx-old.example.test', '20 mx2.example.test']),
      ok('c.ns.test', '2001:db8::3', 6, ['10 mx1.example.test']),
    ]);
    expect(brief(r)).toEqual([
      'AUTH_DIFFER -: the authoritative servers give different MX sets for example.test: a.ns.test (192.0.2.1), c.ns.test (2001:db8::3): 10 mx1.example.test | b.ns.test (192.0.2.2): 10 mx-old.example.test, 20 mx2.example.test',
      'AUTH_STALE NS b.ns.test.: b.ns.test (192.0.2.2) serves serial 5 of example.test, older than 6 at a.ns.test (192.0.2.1), c.ns.test (2001:db8::3)',
    ]);
  });

  it('tells NXDOMAIN and NODATA apart from an MX set, and a change made without a new serial', () => {
    const r = report([
      ok('a.ns.test', '192.0.2.1', 9, [], 'NXDOMAIN'),
      ok('b.ns.test', '192.0.2.2', 9, []),
      ok('c.ns.test', '192.0.2.3', 9, ['0 .']),
    ]);
    expect(brief(r, 'www.example.test')).toEqual([
      'AUTH_DIFFER -: the authoritative servers give different MX sets for www.example.test: a.ns.test (192.0.2.1): NXDOMAIN | b.ns.test (192.0.2.2): no MX | c.ns.test (192.0.2.3): 0 .; all at serial 9: the zone was changed without a new serial',
    ]);
  });

  it('compares serials across the wrap: 4294967295 is older than 0', () => {
    const r = report([
      ok('a.ns.test', '192.0.2.1', 0, ['10 mx.example.test']),
      ok('b.ns.test', '192.0.2.2', 4294967295, ['10 mx.example.test']),
    ]);
    expect(brief(r)).toEqual([
      'AUTH_STALE NS b.ns.test.: b.ns.test (192.0.2.2) serves serial 4294967295 of example.test, older than 0 at a.ns.test (192.0.2.1)',
    ]);
  });

  it('says so when the serials are 2^31 apart and cannot be ordered', () => {
    const r = report([
      ok('a.ns.test', '192.0.2.1', 0, ['10 mx.example.test']),
      ok('b.ns.test', '192.0.2.2', 2 ** 31, ['10 mx.example.test']),
    ]);
    expect(brief(r)).toEqual([
      'AUTH_STALE -: the serials of example.test cannot be ordered (RFC 1982: too far apart): a.ns.test (192.0.2.1) 0, b.ns.test (192.0.2.2) 2147483648',
    ]);
  });

  it('reports each lame server and keeps it out of the comparison', () => {
    const r = report([
      ok('a.ns.test', '192.0.2.1', 6, ['10 mx.example.test']),
      lame('b.ns.test', '192.0.2.2', 'refused', 'REFUSED to example.test SOA'),
      lame('c.ns.test', '192.0.2.3', 'referral', 'a referral to example.test (NS a.ns.test) instead of an answer to example.test SOA'),
      lame('d.ns.test', '192.0.2.4', 'timeout', 'no answer to example.test SOA in 2 attempt(s) of 500 ms'),
    ]);
    expect(brief(r)).toEqual([
      'AUTH_LAME NS b.ns.test.: b.ns.test (192.0.2.2) does not answer authoritatively for example.test: REFUSED to example.test SOA',
      'AUTH_LAME NS c.ns.test.: c.ns.test (192.0.2.3) does not answer authoritatively for example.test: a referral to example.test (NS a.ns.test) instead of an answer to example.test SOA',
      'AUTH_LAME NS d.ns.test.: d.ns.test (192.0.2.4) does not answer authoritatively for example.test: no answer to example.test SOA in 2 attempt(s) of 500 ms',
    ]);
  });

  it('calls NS names without an address a delegation to nowhere when none resolves', () => {
    expect(
      brief(
        report(
          [],
          [
            { ns: 'ns1.gone.test', why: 'NXDOMAIN' },
            { ns: 'ns2.gone.test', why: 'no A or AAAA record' },
          ],
        ),
      ),
    ).toEqual([
      'AUTH_NS_UNRESOLVABLE NS ns1.gone.test.: ns1.gone.test has no address (NXDOMAIN): no resolver can ask it; no name server of example.test resolves: a delegation to nowhere',
      'AUTH_NS_UNRESOLVABLE NS ns2.gone.test.: ns2.gone.test has no address (no A or AAAA record): no resolver can ask it; no name server of example.test resolves: a delegation to nowhere',
    ]);
    expect(brief(report([ok('a.ns.test', '192.0.2.1', 1, [])], [{ ns: 'ns1.gone.test', why: 'NXDOMAIN' }]))).toEqual([
      'AUTH_NS_UNRESOLVABLE NS ns1.gone.test.: ns1.gone.test has no address (NXDOMAIN): no resolver can ask it',
    ]);
  });

  it('does not count servers it could not ask (no route from here) as lame, unless none could be asked', () => {
    const skipped: ServerAnswer = {
      ...lame('a.ns.test', '2001:db8::1', 'timeout', ''),
      lame: null,
      skipped: 'not asked: no route from this machine (ENETUNREACH)',
    };
    expect(brief(report([skipped, ok('a.ns.test', '192.0.2.1', 1, ['10 mx.example.test'])]))).toEqual([]);
    expect(brief(report([skipped]))).toEqual([
      'LOOKUP_FAILED -: no authoritative server of example.test could be asked from here (a.ns.test (2001:db8::1): not asked: no route from this machine (ENETUNREACH))',
    ]);
  });

  it('turns the findings into a verdict: fail, or error when the NS lookup failed', () => {
    const base: CheckResult = { domain: 'example.test', verdict: 'ok', findings: [], mx: [], resolver: '127.0.0.1:53', ms: 1 };
    const clean = report([ok('a.ns.test', '192.0.2.1', 1, ['10 mx.example.test'])]);
    expect(withAuthoritative(base, clean)).toEqual({ ...base, authoritative: clean });
    const split = report([
      ok('a.ns.test', '192.0.2.1', 1, ['10 mx.example.test']),
      lame('b.ns.test', '192.0.2.2', 'servfail', 'SERVFAIL to example.test SOA'),
    ]);
    expect(withAuthoritative({ ...base, verdict: 'no_mail' }, split)).toMatchObject({
      verdict: 'fail',
      findings: [{ code: 'AUTH_LAME', severity: 'fail' }],
    });
    expect(withAuthoritative({ ...base, verdict: 'error' }, split).verdict).toBe('error');
    const failed: AuthReport = { zone: null, ns: [], servers: [], unresolvable: [], error: 'example.test NS: SERVFAIL from 127.0.0.1:53' };
    expect(withAuthoritative(base, failed)).toMatchObject({
      verdict: 'error',
      findings: [
        { code: 'LOOKUP_FAILED', severity: 'fail', record: null, detail: 'NS lookup: example.test NS: SERVFAIL from 127.0.0.1:53' },
      ],
    });
  });
});
