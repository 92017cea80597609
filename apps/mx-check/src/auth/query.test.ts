import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsInterruptedError } from '../dns/resolver.js';
import { directQuery } from './query.js';

const SOA: Packet['answers'] = [
  {
    type: 'SOA',
    name: 'example.test',
    ttl: 60,
    data: { mname: 'a.ns.test', rname: 'h.example.test', serial: 7, refresh: 1, retry: 1, expire: 1, minimum: 1 },
  },
];

let closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers) c();
  closers = [];
});

/** A UDP server on 127.0.0.1:0 (and TCP on the same port when `tcp` is given) answering with `reply`. */
async function server(
  reply: (q: DecodedPacket) => Packet | Buffer | null,
  tcp?: (q: Packet) => Packet,
): Promise<{ port: number; queries: DecodedPacket[] }> {
  const queries: DecodedPacket[] = [];
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const port = udp.address().port;
  udp.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    queries.push(q);
    const a = reply(q);
    if (a) udp.send(Buffer.isBuffer(a) ? a : dnsPacket.encode(a), rinfo.port, rinfo.address);
  });
  closers.push(() => udp.close());
  if (tcp) {
    const srv = net.createServer((c) => c.on('data', (d: Buffer) => c.end(dnsPacket.streamEncode(tcp(dnsPacket.streamDecode(d))))));
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    closers.push(() => srv.close());
  }
  return { port, queries };
}

const response = (q: Packet, flags: number, extra: Partial<Packet> = {}): Packet => ({
  type: 'response',
  id: q.id,
  flags,
  questions: q.questions,
  ...extra,
});
const opts = { timeoutMs: 300, retries: 1 };

describe('directQuery', () => {
  it('asks without recursion (RD=0) and reads the AA bit and the rcode', async () => {
    const s = await server((q) => response(q, dnsPacket.AUTHORITATIVE_ANSWER, { answers: SOA }));
    const r = await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', opts);
    expect(r).toMatchObject({
      kind: 'answer',
      rcode: 'NOERROR',
      isAuthoritative: true,
      tcp: false,
      answers: [{ type: 'SOA', data: { serial: 7 } }],
    });
    expect(s.queries).toHaveLength(1);
    expect((s.queries[0]?.flags ?? -1) & dnsPacket.RECURSION_DESIRED).toBe(0);
  });

  it('gives an answer without AA and a REFUSED as they are', async () => {
    const s = await server((q) => response(q, q.questions?.[0]?.type === 'SOA' ? 0 : 5));
    expect(await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', opts)).toMatchObject({
      kind: 'answer',
      rcode: 'NOERROR',
      isAuthoritative: false,
    });
    expect(await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'MX', opts)).toMatchObject({
      kind: 'answer',
      rcode: 'REFUSED',
    });
  });

  it('ignores a wrong ID, another question and garbage, and times out after every attempt', async () => {
    let n = 0;
    const s = await server((q) => {
      n++;
      if (n === 1) return response({ ...q, id: (q.id ?? 0) ^ 1 }, dnsPacket.AUTHORITATIVE_ANSWER);
      if (n === 2) return response({ ...q, questions: [{ type: 'SOA', name: 'other.test', class: 'IN' }] }, dnsPacket.AUTHORITATIVE_ANSWER);
      return Buffer.from('garbage');
    });
    expect(await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', { timeoutMs: 150, retries: 2 })).toEqual({
      kind: 'timeout',
      attempts: 3,
    });
    expect(s.queries).toHaveLength(3);
  });

  it('asks again over TCP when the UDP answer is truncated', async () => {
    const s = await server(
      (q) => response(q, dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.TRUNCATED_RESPONSE),
      (q) => response(q, dnsPacket.AUTHORITATIVE_ANSWER, { answers: SOA }),
    );
    expect(await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', opts)).toMatchObject({
      kind: 'answer',
      tcp: true,
      answers: [{ type: 'SOA' }],
    });
  });

  it('says unreachable when nothing listens (ICMP port unreachable) without waiting for the timeout', async () => {
    const s = await server(() => null);
    closers.pop()?.(); // close it: the port now refuses
    const started = Date.now();
    expect(await directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', { timeoutMs: 5000, retries: 0 })).toEqual({
      kind: 'unreachable',
      code: 'ECONNREFUSED',
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('sends nothing once interrupted', async () => {
    const s = await server(() => null);
    const ac = new AbortController();
    ac.abort();
    await expect(
      directQuery({ host: '127.0.0.1', port: s.port }, 'example.test', 'SOA', { ...opts, signal: ac.signal }),
    ).rejects.toBeInstanceOf(DnsInterruptedError);
    expect(s.queries).toHaveLength(0);
  });
});
