import type { Answer } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsInterruptedError, DnsResolver, DnsTimeoutError, parseResolvConf, parseServer } from './resolver.js';
import { startFakeDns, type FakeDns, type FakeDnsOptions } from './testing/fake-dns.js';

const A = (name: string, data: string): Answer => ({ type: 'A', name, ttl: 60, data });
let server: FakeDns | undefined;
let resolver: DnsResolver | undefined;

afterEach(async () => {
  resolver?.close();
  await server?.close();
  server = undefined;
  resolver = undefined;
});

async function setup(opts: Partial<FakeDnsOptions>, timeoutMs = 200, retries = 2): Promise<DnsResolver> {
  server = await startFakeDns({ records: { 'a.test': [A('a.test', '192.0.2.1')] }, ...opts });
  resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs, retries });
  return resolver;
}

describe('parsers', () => {
  it('parseServer takes IP, IP:PORT, [v6]:PORT and bare v6', () => {
    expect(parseServer('127.0.0.1')).toEqual({ host: '127.0.0.1', port: 53 });
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseServer('::1')).toEqual({ host: '::1', port: 53 });
    expect(parseServer('ns1.example.com')).toBeNull();
    expect(parseServer('127.0.0.1:99999')).toBeNull();
  });
  it('parseResolvConf reads nameserver lines only', () => {
    const text = '# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1 # v6\noptions edns0\nnameserver bogus\n';
    expect(parseResolvConf(text)).toEqual([{ host: '127.0.0.53', port: 53 }, { host: '::1', port: 53 }]);
  });
});

describe('DnsResolver against an in-process server', () => {
  it('answers, and NXDOMAIN for a missing name', async () => {
    const r = await setup({});
    const res = await r.query('a.test', 'A');
    expect(res.rcode).toBe('NOERROR');
    expect(res.answers.map((a) => a.type === 'A' && a.data)).toEqual(['192.0.2.1']);
    expect((await r.query('missing.test', 'A')).rcode).toBe('NXDOMAIN');
  });

  it('falls back to TCP when the UDP answer is truncated', async () => {
    const many = Array.from({ length: 40 }, (_, i) => A('big.test', `192.0.2.${i + 1}`));
    const r = await setup({ records: { 'big.test': many }, truncateOver: 10 });
    const res = await r.query('big.test', 'A');
    expect(res.tcp).toBe(true);
    expect(res.answers).toHaveLength(40);
    expect(server?.tcpQueries).toBe(1);
    expect(r.stats.tcpFallbacks).toBe(1);
  });

  it('says so when the answer is truncated and TCP fails', async () => {
    const many = Array.from({ length: 40 }, (_, i) => A('big.test', `192.0.2.${i + 1}`));
    const r = await setup({ records: { 'big.test': many }, truncateOver: 10 }, 200, 0);
    await server?.closeTcp();
    await expect(r.query('big.test', 'A')).rejects.toThrow(/; truncated over UDP, and over TCP: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  });

  it('ignores and counts wrong IDs, wrong questions and garbage, then times out', async () => {
    const r = await setup({ behaviour: (name) => (name === 'a.test' ? 'wrong-id' : name === 'b.test' ? 'wrong-question' : 'garbage') }, 100, 1);
    await expect(r.query('a.test', 'A')).rejects.toThrow(DnsTimeoutError);
    expect(r.stats.unexpected).toBe(2);
    // a fresh resolver: the first one now counts the server as dead
    const r2 = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server?.port ?? 0 }], timeoutMs: 100, retries: 1 });
    try {
      await expect(r2.query('b.test', 'A')).rejects.toThrow(/no answer for b.test A from 127.0.0.1:\d+ in 2 attempt\(s\) of 100 ms$/);
      expect(r2.stats.mismatched).toBe(2);
    } finally {
      r2.close();
    }
  });

  it('says how many undecodable answers it ignored', async () => {
    const r = await setup({ behaviour: () => 'garbage' }, 100, 0);
    await expect(r.query('a.test', 'A')).rejects.toThrow(/; 1 undecodable answer\(s\) ignored$/);
    expect(r.stats.garbage).toBe(1);
  });

  it('takes the real answer that follows garbage with the same ID', async () => {
    const r = await setup({ behaviour: () => 'garbage-then-answer' });
    expect((await r.query('a.test', 'A')).rcode).toBe('NOERROR');
    expect(r.stats.garbage).toBe(1);
  });

  it('retries SERVFAIL and returns it when it persists', async () => {
    const r = await setup({ behaviour: () => 'servfail' }, 200, 2);
    expect((await r.query('a.test', 'A')).rcode).toBe('SERVFAIL');
    expect(server?.udpQueries).toBe(3);
  });

  it('retries through a resolver that drops 50% of queries', async () => {
    let n = 0;
    const r = await setup({ dropRate: 0.5, random: () => (n++ % 2 === 0 ? 0 : 1) }, 100, 2);
    expect((await r.query('a.test', 'A')).rcode).toBe('NOERROR');
    expect(r.stats.attempts).toBe(2);
  });

  it('gives up at once on a resolver that never answered and already timed out', async () => {
    const r = await setup({ behaviour: () => 'silent' }, 100, 1);
    const t0 = Date.now();
    await expect(r.query('a.test', 'A')).rejects.toThrow(DnsTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const t1 = Date.now();
    await expect(r.query('b.test', 'A')).rejects.toThrow(/looks dead/);
    expect(Date.now() - t1).toBeLessThan(150);
    expect(r.unanswering).toEqual([`127.0.0.1:${server?.port}`]);
  });

  it('queries asked while the socket is still connecting each get their own answer (no ID shared)', async () => {
    // 2,000 random IDs taken at once collide ~30 times in 65,536: each must still be unique
    const names = Array.from({ length: 2000 }, (_, i) => `h${i}.test`);
    const records = Object.fromEntries(names.map((n, i) => [n, [A(n, `192.0.${i >> 8}.${i & 255}`)]]));
    const r = await setup({ records }, 1000, 3);
    const answers = await Promise.all(names.map((n) => r.query(n, 'A')));
    expect(answers.map((x) => x.answers[0]?.name)).toEqual(names);
    expect(r.stats).toMatchObject({ queries: 2000, timeouts: 0, mismatched: 0 });
  });

  it('once interrupted, sends no retry and no new query, and an unanswered query ends as interrupted', async () => {
    server = await startFakeDns({ records: { 'a.test': [A('a.test', '192.0.2.1')] }, behaviour: (name) => (name === 'slow.test' ? 'silent' : 'answer') });
    const ac = new AbortController();
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: 100, retries: 3, signal: ac.signal });
    expect((await resolver.query('a.test', 'A')).answers).toHaveLength(1);
    const pending = resolver.query('slow.test', 'A');
    ac.abort();
    await expect(pending).rejects.toThrow(new DnsInterruptedError('slow.test A not asked: interrupted'));
    await expect(resolver.query('a.test', 'AAAA')).rejects.toThrow(DnsInterruptedError);
    expect(server.udpQueries).toBe(2);
    expect(resolver.stats).toMatchObject({ queries: 2, attempts: 2, timeouts: 0 });
    // an interruption is not the resolver's silence: it is not taken for dead
    expect(resolver.unanswering).toEqual([]);
  });
});
