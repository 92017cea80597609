/**
 * An in-process authoritative DNS server for unit tests (UDP and TCP on the same loopback port),
 * with misbehaviours on demand: SERVFAIL, silence, garbage, wrong IDs, a wrong question, dropping
 * a share of queries, and truncation over UDP; it records where each UDP query came from, and lets a
 * test forge answers (onQuery) ahead of the real one (answerDelayMs).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';

export type Behaviour = 'answer' | 'servfail' | 'silent' | 'garbage' | 'wrong-id' | 'wrong-question' | 'garbage-then-answer';

export interface FakeDnsOptions {
  /** Records by lower-case owner name; a name with no entry is NXDOMAIN. */
  records: Record<string, Answer[]>;
  behaviour?: (name: string, type: string) => Behaviour;
  /** Share of UDP queries to ignore (0..1), decided by `random`. */
  dropRate?: number;
  random?: () => number;
  /** Answers with more records than this are sent truncated over UDP. */
  truncateOver?: number;
  /**
   * Called with every UDP query before it is answered (a forger that sees the queries); `reply`
   * sends from the server's own address and port at once.
   */
  onQuery?: (query: DecodedPacket, from: dgram.RemoteInfo, reply: (msg: Buffer) => void) => void;
  /** Holds every UDP answer back this long, so that what onQuery sends arrives first. */
  answerDelayMs?: number;
}

/** A UDP query as it arrived: where from, its ID and its question name as sent (case kept). */
export interface SeenQuery {
  address: string;
  port: number;
  id: number;
  name: string;
}

export interface FakeDns {
  port: number;
  udpQueries: number;
  tcpQueries: number;
  udpSeen: SeenQuery[];
  /** Stops the TCP side only (the UDP side keeps answering). */
  closeTcp(): Promise<void>;
  close: () => Promise<void>;
}

function respond(q: DecodedPacket, opts: FakeDnsOptions): Packet {
  const question = q.questions?.[0];
  const name = (question?.name ?? '').toLowerCase();
  const all = opts.records[name];
  const answers = (all ?? []).filter((r) => r.type === question?.type || r.type === 'CNAME');
  return {
    type: 'response',
    id: q.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (all === undefined ? 3 : 0),
    questions: q.questions,
    answers,
  };
}

export async function startFakeDns(opts: FakeDnsOptions): Promise<FakeDns> {
  const random = opts.random ?? Math.random;
  const behaviour = opts.behaviour ?? (() => 'answer' as const);
  for (let tries = 0; ; tries++) {
    // room for a burst of a few thousand queries (the kernel caps it at net.core.rmem_max)
    const udp = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => r(true));
    });
    if (!ok) {
      udp.close();
      if (tries > 20) throw new Error('no port free for both UDP and TCP');
      continue;
    }
    const state: FakeDns = {
      port,
      udpQueries: 0,
      tcpQueries: 0,
      udpSeen: [],
      closeTcp: () => new Promise<void>((r) => (tcp.listening ? tcp.close(() => r()) : r())),
      close: async () => {
        await new Promise<void>((r) => udp.close(() => r()));
        await state.closeTcp();
      },
    };
    const sockets = new Set<net.Socket>();
    udp.on('message', (msg, rinfo) => {
      state.udpQueries++;
      const q = dnsPacket.decode(msg);
      const qid = q.id ?? 0;
      const question = q.questions?.[0];
      state.udpSeen.push({ address: rinfo.address, port: rinfo.port, id: qid, name: question?.name ?? '' });
      opts.onQuery?.(q, rinfo, (buf) => udp.send(buf, rinfo.port, rinfo.address));
      const b = behaviour(question?.name ?? '', question?.type ?? '');
      if (opts.dropRate && random() < opts.dropRate) return;
      const send = (buf: Buffer) => {
        if (opts.answerDelayMs) setTimeout(() => udp.send(buf, rinfo.port, rinfo.address), opts.answerDelayMs);
        else udp.send(buf, rinfo.port, rinfo.address);
      };
      const res = respond(q, opts);
      switch (b) {
        case 'silent':
          return;
        case 'garbage':
          send(Buffer.from([qid >> 8, qid & 255, 0x81, 0x80, 0xff, 0xff]));
          return;
        case 'garbage-then-answer':
          send(Buffer.from([qid >> 8, qid & 255, 0x81, 0x80, 0xff, 0xff]));
          send(dnsPacket.encode(res));
          return;
        case 'wrong-id':
          send(dnsPacket.encode({ ...res, id: (qid + 1) & 0xffff }));
          return;
        case 'wrong-question':
          send(dnsPacket.encode({ ...res, questions: [{ name: 'other.example', type: 'A', class: 'IN' }] }));
          return;
        case 'servfail':
          send(dnsPacket.encode({ ...res, flags: 2, answers: [] }));
          return;
        default:
          if (opts.truncateOver !== undefined && (res.answers?.length ?? 0) > opts.truncateOver) {
            send(dnsPacket.encode({ ...res, flags: (res.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [] }));
          } else {
            send(dnsPacket.encode(res));
          }
      }
    });
    tcp.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      let buf = Buffer.alloc(0);
      s.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const q = dnsPacket.decode(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          state.tcpQueries++;
          s.write(dnsPacket.streamEncode(respond(q, opts)));
        }
      });
      s.on('error', () => undefined);
    });
    const close = state.close;
    state.close = async () => {
      for (const s of sockets) s.destroy();
      await close();
    };
    return state;
  }
}
