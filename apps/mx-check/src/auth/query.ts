/**
 * One question straight to an authoritative server, recursion not desired (RD=0), the way a
 * resolver asks: UDP with EDNS, TCP when the answer is truncated, a timeout per attempt and a
 * bounded number of attempts. Each attempt has its own connected socket (a fresh source port, and
 * the kernel hands over only that server's datagrams) and a random ID; an answer counts only when
 * its ID and question are ours. The flags come back, AA above all: lameness is read from them.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { DnsInterruptedError } from '../dns/resolver.js';

export interface DirectServer {
  host: string;
  port: number;
}

export type DirectResult =
  | { kind: 'answer'; rcode: string; isAuthoritative: boolean; answers: Answer[]; authorities: Answer[]; tcp: boolean }
  /** No answer in any attempt. */
  | { kind: 'timeout'; attempts: number }
  /** The network said no: ICMP port or host unreachable (`code` ECONNREFUSED, EHOSTUNREACH, …). */
  | { kind: 'unreachable'; code: string }
  /** This machine cannot send there at all (no route, no address of that family). */
  | { kind: 'no_route'; code: string };

export interface DirectQueryOptions {
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  signal?: AbortSignal;
}

const EDNS_PAYLOAD = 1232;
const LOCAL_ERRORS = new Set(['ENETUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

function queryPacket(id: number, name: string, type: RecordType): Packet {
  return {
    type: 'query',
    id,
    flags: 0, // RD=0: the server must answer from its own data, never recurse
    questions: [{ type, name, class: 'IN' }],
    additionals: [
      { type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
    ],
  };
}

function isOurs(p: DecodedPacket, id: number, name: string, type: RecordType): boolean {
  const q = p.questions?.[0];
  return p.type === 'response' && p.id === id && q !== undefined && q.name.toLowerCase() === name.toLowerCase() && q.type === type;
}

function toResult(p: DecodedPacket, tcp: boolean): DirectResult {
  return {
    kind: 'answer',
    rcode: (p as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR',
    isAuthoritative: ((p.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
    answers: p.answers ?? [],
    authorities: p.authorities ?? [],
    tcp,
  };
}

type Attempt = { packet: DecodedPacket } | { error: string } | null;

function udpAttempt(server: DirectServer, name: string, type: RecordType, timeoutMs: number): Promise<Attempt> {
  const id = randomInt(65_536);
  const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
  return new Promise<Attempt>((resolve) => {
    let isDone = false;
    const done = (a: Attempt): void => {
      // a send error may come after the timeout closed the socket: closing twice throws
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      socket.close();
      resolve(a);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    socket.on('message', (msg) => {
      let p: DecodedPacket;
      try {
        p = dnsPacket.decode(msg);
      } catch {
        return; // garbage: keep waiting for the real answer
      }
      if (isOurs(p, id, name, type)) done({ packet: p });
    });
    socket.connect(server.port, server.host, () => {
      socket.send(dnsPacket.encode(queryPacket(id, name, type)), (err) => {
        if (err) done({ error: (err as NodeJS.ErrnoException).code ?? err.message });
      });
    });
  });
}

function tcpQuery(server: DirectServer, name: string, type: RecordType, timeoutMs: number): Promise<Attempt> {
  const id = randomInt(65_536);
  return new Promise<Attempt>((resolve) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    const done = (a: Attempt): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    socket.on('close', () => done(null));
    socket.on('connect', () => socket.write(dnsPacket.streamEncode(queryPacket(id, name, type))));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        try {
          const p = dnsPacket.decode(msg);
          if (isOurs(p, id, name, type)) return done({ packet: p });
        } catch {
          return done({ error: 'undecodable TCP answer' });
        }
      }
    });
  });
}

/** Asks `server` one question with RD=0; never rejects except with DnsInterruptedError. */
export async function directQuery(server: DirectServer, name: string, type: RecordType, opts: DirectQueryOptions): Promise<DirectResult> {
  const attempts = opts.retries + 1;
  for (let i = 0; i < attempts; i++) {
    if (opts.signal?.aborted) throw new DnsInterruptedError(`${name} ${type} not asked of ${server.host}: interrupted`);
    const got = await udpAttempt(server, name, type, opts.timeoutMs);
    if (got === null) continue;
    if ('error' in got)
      return LOCAL_ERRORS.has(got.error) ? { kind: 'no_route', code: got.error } : { kind: 'unreachable', code: got.error };
    if (((got.packet.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) === 0) return toResult(got.packet, false);
    const overTcp = await tcpQuery(server, name, type, opts.timeoutMs);
    if (overTcp !== null && 'packet' in overTcp) return toResult(overTcp.packet, true);
    // truncated over UDP and nothing over TCP: what UDP gave is still the server's word on AA and rcode
    return toResult(got.packet, false);
  }
  return { kind: 'timeout', attempts };
}
