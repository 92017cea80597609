import type { Answer, RecordType } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { DnsInterruptedError, type DnsResponse } from '../dns/resolver.js';
import { AuthChecker, type DirectAsk } from './gather.js';
import type { DirectResult } from './query.js';

const NS = (name: string, data: string): Answer => ({ type: 'NS', name, ttl: 60, data });
const A = (name: string, data: string): Answer => ({ type: 'A', name, ttl: 60, data });
const SOA = (name: string, serial: number): Answer => ({
  type: 'SOA',
  name,
  ttl: 60,
  data: { mname: 'a.ns.test', rname: 'hostmaster.example.test', serial, refresh: 3600, retry: 600, expire: 86400, minimum: 300 },
});
const MX = (name: string, preference: number, exchange: string): Answer => ({ type: 'MX', name, ttl: 60, data: { preference, exchange } });
const res = (answers: Answer[], authorities: Answer[] = [], rcode = 'NOERROR'): DnsResponse => ({
  rcode,
  answers,
  authorities,
  server: '127.0.0.1:53',
  tcp: false,
});
const aa = (answers: Answer[], rcode = 'NOERROR'): DirectResult => ({
  kind: 'answer',
  rcode,
  isAuthoritative: true,
  answers,
  authorities: [],
  tcp: false,
});

/** A resolver that knows `records` ("name TYPE" → response); anything else is NXDOMAIN. */
function resolver(records: Record<string, DnsResponse | Error>) {
  const asked: string[] = [];
  const ask = (name: string, type: RecordType): Promise<DnsResponse> => {
    asked.push(`${name} ${type}`);
    const r = records[`${name} ${type}`] ?? res([], [], 'NXDOMAIN');
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  };
  return { ask, asked };
}

function servers(byAddress: Record<string, (name: string, type: RecordType) => DirectResult>) {
  const asked: string[] = [];
  const direct: DirectAsk = (server, name, type) => {
    asked.push(`${server.host}:${server.port} ${name} ${type}`);
    const f = byAddress[server.host];
    return Promise.resolve(f ? f(name, type) : { kind: 'timeout', attempts: 1 });
  };
  return { direct, asked };
}

const zoneServer = (zone: string, serial: number, mx: Answer[]) => (_name: string, type: RecordType) =>
  type === 'SOA' ? aa([SOA(zone, serial)]) : aa(mx);

describe('AuthChecker', () => {
  it('finds the NS set and addresses through the resolver and asks every address SOA and MX with the zone and the domain', async () => {
    const r = resolver({
      'example.test NS': res([NS('example.test', 'a.ns.test'), NS('example.test', 'b.ns.test')]),
      'a.ns.test A': res([A('a.ns.test', '192.0.2.1')]),
      'b.ns.test A': res([A('b.ns.test', '192.0.2.2')]),
    });
    const s = servers({
      '192.0.2.1': zoneServer('example.test', 6, [MX('example.test', 20, 'b.mx.test'), MX('example.test', 10, 'A.MX.TEST.')]),
      '192.0.2.2': (_n, type) =>
        type === 'SOA' ? { kind: 'answer', rcode: 'REFUSED', isAuthoritative: false, answers: [], authorities: [], tcp: false } : aa([]),
    });
    const report = await new AuthChecker(r.ask, { timeoutMs: 100, retries: 0, direct: s.direct }).check('example.test');
    expect(report).toEqual({
      zone: 'example.test',
      ns: ['a.ns.test', 'b.ns.test'],
      servers: [
        { ns: 'a.ns.test', address: '192.0.2.1', lame: null, serial: 6, rcode: 'NOERROR', mx: ['10 a.mx.test', '20 b.mx.test'] },
        {
          ns: 'b.ns.test',
          address: '192.0.2.2',
          lame: { how: 'refused', detail: 'REFUSED to example.test SOA' },
          serial: null,
          rcode: null,
          mx: null,
        },
      ],
      unresolvable: [],
    });
    expect(s.asked.sort()).toEqual([
      '192.0.2.1:53 example.test MX',
      '192.0.2.1:53 example.test SOA',
      '192.0.2.2:53 example.test MX',
      '192.0.2.2:53 example.test SOA',
    ]);
  });

  it('takes the zone from the SOA of a negative answer when the domain is no apex, and a referral as the NS set', async () => {
    const r = resolver({
      'www.example.test NS': res([], [SOA('example.test', 1)]),
      // a resolver that is only authoritative for the parent answers with the delegation
      'example.test NS': res([], [NS('example.test', 'a.ns.test')]),
      'a.ns.test A': res([A('a.ns.test', '192.0.2.1')]),
    });
    const s = servers({ '192.0.2.1': zoneServer('example.test', 3, [MX('www.example.test', 10, 'mx.example.test')]) });
    const report = await new AuthChecker(r.ask, { timeoutMs: 100, retries: 0, direct: s.direct, port: 5300 }).check('www.example.test');
    expect(report).toMatchObject({ zone: 'example.test', ns: ['a.ns.test'], servers: [{ serial: 3, mx: ['10 mx.example.test'] }] });
    expect(s.asked.sort()).toEqual(['192.0.2.1:5300 example.test SOA', '192.0.2.1:5300 www.example.test MX']);
  });

  it('tells a referral, an answer without AA, a timeout and ICMP port unreachable apart', async () => {
    const r = resolver({
      'example.test NS': res([NS('example.test', 'a.ns.test')]),
      'a.ns.test A': res([
        A('a.ns.test', '192.0.2.1'),
        A('a.ns.test', '192.0.2.2'),
        A('a.ns.test', '192.0.2.3'),
        A('a.ns.test', '192.0.2.4'),
      ]),
    });
    const s = servers({
      '192.0.2.1': () => ({
        kind: 'answer',
        rcode: 'NOERROR',
        isAuthoritative: false,
        answers: [],
        authorities: [NS('example.test', 'x.ns.test'), NS('example.test', 'y.ns.test')],
        tcp: false,
      }),
      '192.0.2.2': () => ({
        kind: 'answer',
        rcode: 'NOERROR',
        isAuthoritative: false,
        answers: [SOA('example.test', 1)],
        authorities: [],
        tcp: false,
      }),
      '192.0.2.3': () => ({ kind: 'timeout', attempts: 3 }),
      '192.0.2.4': () => ({ kind: 'unreachable', code: 'ECONNREFUSED' }),
    });
    const report = await new AuthChecker(r.ask, { timeoutMs: 100, retries: 2, direct: s.direct }).check('example.test');
    expect(report.servers.map((x) => x.lame)).toEqual([
      { how: 'referral', detail: 'a referral to example.test (NS x.ns.test, y.ns.test) instead of an answer to example.test SOA' },
      { how: 'not_authoritative', detail: 'an answer to example.test SOA without the AA bit' },
      { how: 'timeout', detail: 'no answer to example.test SOA in 3 attempt(s) of 100 ms' },
      { how: 'unreachable', detail: 'nothing listens on port 53 (ICMP port unreachable to example.test SOA)' },
    ]);
  });

  it('reports NS names without addresses (a delegation to nowhere) and asks their lookups once across domains', async () => {
    const r = resolver({
      'one.test NS': res([NS('one.test', 'ns.gone.test'), NS('one.test', 'ns.empty.test')]),
      'two.test NS': res([NS('two.test', 'ns.gone.test')]),
      'ns.empty.test A': res([]),
      'ns.empty.test AAAA': res([]),
    });
    const checker = new AuthChecker(r.ask, { timeoutMs: 100, retries: 0, direct: servers({}).direct });
    expect(await checker.check('one.test')).toEqual({
      zone: 'one.test',
      ns: ['ns.empty.test', 'ns.gone.test'],
      servers: [],
      unresolvable: [
        { ns: 'ns.empty.test', why: 'no A or AAAA record' },
        { ns: 'ns.gone.test', why: 'NXDOMAIN' },
      ],
    });
    expect(await checker.check('two.test')).toMatchObject({ zone: 'two.test', unresolvable: [{ ns: 'ns.gone.test', why: 'NXDOMAIN' }] });
    expect(r.asked.filter((q) => q.startsWith('ns.gone.test'))).toEqual(['ns.gone.test A', 'ns.gone.test AAAA']);
  });

  it('turns a failed NS lookup into a report, and passes an interruption on', async () => {
    const failing = resolver({ 'example.test NS': res([], [], 'SERVFAIL') });
    expect(await new AuthChecker(failing.ask, { timeoutMs: 100, retries: 0 }).check('example.test')).toEqual({
      zone: null,
      ns: [],
      servers: [],
      unresolvable: [],
      error: 'example.test NS: SERVFAIL from 127.0.0.1:53',
    });
    const timing = resolver({ 'example.test NS': new Error('no answer for example.test NS') });
    expect((await new AuthChecker(timing.ask, { timeoutMs: 100, retries: 0 }).check('example.test')).error).toBe(
      'example.test NS: no answer for example.test NS',
    );
    const stopped = resolver({ 'example.test NS': new DnsInterruptedError('example.test NS not asked: interrupted') });
    await expect(new AuthChecker(stopped.ask, { timeoutMs: 100, retries: 0 }).check('example.test')).rejects.toBeInstanceOf(
      DnsInterruptedError,
    );
  });

  it('keeps at most 512 direct questions in flight, and asks them all', async () => {
    const addresses = Array.from({ length: 400 }, (_, i) => A('a.ns.test', `198.51.${i >> 8}.${i & 255}`));
    const r = resolver({ 'example.test NS': res([NS('example.test', 'a.ns.test')]), 'a.ns.test A': res(addresses) });
    let now = 0;
    let most = 0;
    let asked = 0;
    const direct: DirectAsk = async (_server, name, type) => {
      asked++;
      most = Math.max(most, ++now);
      await new Promise((resolve) => setTimeout(resolve, 5));
      now--;
      return type === 'SOA' ? aa([SOA(name, 1)]) : aa([]);
    };
    const report = await new AuthChecker(r.ask, { timeoutMs: 100, retries: 0, direct }).check('example.test');
    expect(report.servers).toHaveLength(400);
    expect(asked).toBe(800);
    expect(most).toBe(512);
  });

  it('does not ask an address this machine has no route to, and says so', async () => {
    const r = resolver({
      'example.test NS': res([NS('example.test', 'a.ns.test')]),
      'a.ns.test AAAA': res([{ type: 'AAAA', name: 'a.ns.test', ttl: 60, data: '2001:db8::1' }]),
    });
    const s = servers({ '2001:db8::1': () => ({ kind: 'no_route', code: 'ENETUNREACH' }) });
    const report = await new AuthChecker(r.ask, { timeoutMs: 100, retries: 0, direct: s.direct }).check('example.test');
    expect(report.servers).toEqual([
      {
        ns: 'a.ns.test',
        address: '2001:db8::1',
        lame: null,
        serial: null,
        rcode: null,
        mx: null,
        skipped: 'not asked: no route from this machine (ENETUNREACH)',
      },
    ]);
  });
});
