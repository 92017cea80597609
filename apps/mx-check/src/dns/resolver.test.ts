import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsInterruptedError, DnsResolver, DnsTimeoutError, parseResolvConf, rejectedAnswers } from './resolver.js';
import { startFakeDns, type FakeDns, type FakeDnsOptions } from '../testing/fake-dns.js';

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
  it('parseResolvConf reads nameserver lines only', () => {
    const text = '# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1 # v6\noptions edns0\nnameserver bogus\n';
    expect(parseResolvConf(text)).toEqual([
      { host: '127.0.0.53', port: 53 },
      { host: '::1', port: 53 },
    ]);
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
    const r = await setup(
      { behaviour: (name) => (name === 'a.test' ? 'wrong-id' : name === 'b.test' ? 'wrong-question' : 'garbage') },
      100,
      1,
    );
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
    server = await startFakeDns({
      records: { 'a.test': [A('a.test', '192.0.2.1')] },
      behaviour: (name) => (name === 'slow.test' ? 'silent' : 'answer'),
    });
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

describe('answers that cannot be forged', () => {
  const realAnswer = (q: DecodedPacket, data: string, over: Partial<Packet> = {}): Buffer =>
    dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: q.questions,
      answers: [A(q.questions?.[0]?.name ?? '', data)],
      ...over,
    });
  const forgers: dgram.Socket[] = [];
  afterEach(() => {
    for (const f of forgers.splice(0)) f.close();
  });
  async function forgerOn(address: string, port = 0): Promise<dgram.Socket> {
    const f = dgram.createSocket('udp4');
    await new Promise<void>((r) => f.bind(port, address, r));
    forgers.push(f);
    return f;
  }

  it('source ports rotate: each socket carries at most maxQueriesPerSocket queries, then a new port takes over', async () => {
    server = await startFakeDns({ records: { 'a.test': [A('a.test', '192.0.2.1')] } });
    resolver = new DnsResolver({
      servers: [{ host: '127.0.0.1', port: server.port }],
      timeoutMs: 500,
      retries: 0,
      sockets: { size: 1, maxQueriesPerSocket: 5 },
    });
    for (let i = 0; i < 50; i++) expect((await resolver.query('a.test', 'A')).rcode).toBe('NOERROR');
    const ports = server.udpSeen.map((q) => q.port);
    const runs = Array.from({ length: 10 }, (_, i) => ports.slice(i * 5, i * 5 + 5));
    for (const run of runs) expect(new Set(run).size).toBe(1);
    // a replacement is bound while the retired socket is still open: never the same port twice in a row
    for (let i = 1; i < runs.length; i++) expect(runs[i]?.[0]).not.toBe(runs[i - 1]?.[0]);
    // the kernel picks each port at random: ten sockets, (nearly always) ten ports
    expect(new Set(ports).size).toBeGreaterThanOrEqual(8);
    expect(resolver.stats.sourcePorts).toBe(10);
    // retired sockets are closed once their last answer is in
    expect(resolver.openPorts).toHaveLength(1);
  });

  it('queries in flight spread over the pool; the IDs vary', async () => {
    const names = Array.from({ length: 600 }, (_, i) => `h${i}.test`);
    server = await startFakeDns({ records: Object.fromEntries(names.map((n) => [n, [A(n, '192.0.2.1')]])) });
    const pooled = new DnsResolver({
      servers: [{ host: '127.0.0.1', port: server.port }],
      timeoutMs: 2000,
      retries: 2,
      sockets: { size: 8, maxQueriesPerSocket: 16 },
    });
    resolver = pooled;
    const answers = await Promise.all(names.map((n) => pooled.query(n, 'A')));
    expect(answers.map((a) => a?.answers[0]?.name)).toEqual(names);
    const perPort = new Map<number, number>();
    for (const q of server.udpSeen) perPort.set(q.port, (perPort.get(q.port) ?? 0) + 1);
    expect(perPort.size).toBeGreaterThanOrEqual(600 / 16);
    expect(resolver.stats.sourcePorts).toBeGreaterThanOrEqual(600 / 16);
    expect(new Set(server.udpSeen.map((q) => q.id)).size).toBeGreaterThan(550);
    expect(resolver.openPorts.length).toBeLessThanOrEqual(8);
  });

  it('a perfect forgery from another port or another address is ignored; the real answer is taken', async () => {
    // another port of the server's address now; the server's port on another address once it is known
    const otherSources = [await forgerOn('127.0.0.1')];
    server = await startFakeDns({
      records: { 'a.test': [A('a.test', '192.0.2.1')] },
      answerDelayMs: 50,
      onQuery: (q, from) => {
        const forged = realAnswer(q, '10.6.6.6');
        for (const f of otherSources) f.send(forged, from.port, from.address);
      },
    });
    otherSources.push(await forgerOn('127.0.0.2', server.port));
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: 1000, retries: 0 });
    const res = await resolver.query('a.test', 'A');
    expect(res.answers.map((a) => a.type === 'A' && a.data)).toEqual(['192.0.2.1']);
    expect(resolver.stats).toMatchObject({ wrongSource: 2, answered: 1, unexpected: 0 });
  });

  it('from the server itself: a wrong ID, another question, a truncated answer and garbage are ignored while the real answer comes', async () => {
    server = await startFakeDns({
      records: { 'a.test': [A('a.test', '192.0.2.1')] },
      answerDelayMs: 50,
      onQuery: (q, _from, reply) => {
        const forged = realAnswer(q, '10.6.6.6');
        reply(realAnswer(q, '10.6.6.6', { id: ((q.id ?? 0) + 1) & 0xffff }));
        reply(realAnswer(q, '10.6.6.6', { questions: [{ name: 'evil.test', type: 'A', class: 'IN' }] }));
        reply(realAnswer(q, '10.6.6.6', { questions: [{ name: 'a.test', type: 'AAAA', class: 'IN' }] }));
        reply(forged.subarray(0, forged.length - 3));
        reply(Buffer.concat([forged.subarray(0, 2), Buffer.from([0x81, 0x80, 0xff])]));
      },
    });
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: 1000, retries: 0 });
    const res = await resolver.query('a.test', 'A');
    expect(res.answers.map((a) => a.type === 'A' && a.data)).toEqual(['192.0.2.1']);
    expect(resolver.stats).toMatchObject({ unexpected: 1, mismatched: 2, garbage: 2, wrongSource: 0, answered: 1 });
    expect(rejectedAnswers(resolver.stats)).toBe(5);
  });

  it('--0x20: the name goes out in random case, and an echo in another case is rejected', async () => {
    const name = 'abcdefghijklmnop.test';
    let isLowerEcho = false;
    server = await startFakeDns({
      records: { [name]: [A(name, '192.0.2.1')] },
      behaviour: () => (isLowerEcho ? 'silent' : 'answer'),
      onQuery: (q, _from, reply) => {
        if (isLowerEcho) reply(realAnswer(q, '10.6.6.6', { questions: [{ name, type: 'A', class: 'IN' }] }));
      },
    });
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: 150, retries: 1, randomCase: true });
    for (let i = 0; i < 10; i++) expect((await resolver.query(name, 'A')).answers).toHaveLength(1);
    const sent = server.udpSeen.map((q) => q.name);
    expect(sent.every((s) => s.toLowerCase() === name)).toBe(true);
    expect(new Set(sent).size).toBeGreaterThan(8);
    // a server (or forger) that does not echo the case exactly is never believed
    isLowerEcho = true;
    await expect(resolver.query(name, 'A')).rejects.toThrow(DnsTimeoutError);
    expect(resolver.stats).toMatchObject({ mismatched: 2, caseMismatched: 2, answered: 10 });
  });

  it('without --0x20 the question goes out as given', async () => {
    const r = await setup({});
    await r.query('A.Test', 'A');
    expect(server?.udpSeen.map((q) => q.name)).toEqual(['A.Test']);
  });
});
