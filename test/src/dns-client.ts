/**
 * A minimal DNS client for tests: one query over UDP or TCP to the test named, from a chosen source
 * address, with the header flags and EDNS options a test wants to see in the query log.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, RecordType } from 'dns-packet';

const TIMEOUT_MS = 3_000;

export interface QueryOptions {
  /** Source address to bind (127.0.0.x, ::1). */
  localAddress?: string;
  /** Recursion desired (default true). */
  rd?: boolean;
  /** Checking disabled. */
  cd?: boolean;
  /** Add an OPT record (EDNS0) with the DO bit. */
  dnssec?: boolean;
  qclass?: 'IN' | 'CH';
}

export interface QueryResult {
  response: DecodedPacket | Packet;
  /** The source port the query left from, as named logs it. */
  localPort: number;
}

export function makeQuery(name: string, type: RecordType, o: QueryOptions = {}): Packet {
  let flags = o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED;
  if (o.cd) flags |= dnsPacket.CHECKING_DISABLED;
  const packet: Packet = {
    type: 'query',
    id: Math.floor(Math.random() * 65_536),
    flags,
    questions: [{ type, name, class: o.qclass ?? 'IN' }],
  };
  if (o.dnssec) {
    packet.additionals = [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 1232,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: dnsPacket.DNSSEC_OK,
        flag_do: true,
        options: [],
      },
    ];
  }
  return packet;
}

export function udpQuery(host: string, port: number, name: string, type: RecordType, o: QueryOptions = {}): Promise<QueryResult> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const packet = makeQuery(name, type, o);
  return new Promise<QueryResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no UDP answer from ${host}#${port} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    socket.on('error', reject);
    socket.on('message', (message) => {
      const response = dnsPacket.decode(message);
      if (response.id !== packet.id) return;
      clearTimeout(timer);
      resolve({ response, localPort: socket.address().port });
    });
    const send = () => socket.send(dnsPacket.encode(packet), port, host);
    if (o.localAddress) socket.bind(0, o.localAddress, send);
    else send();
  }).finally(() => socket.close());
}

export function tcpQuery(host: string, port: number, name: string, type: RecordType, o: QueryOptions = {}): Promise<QueryResult> {
  const packet = makeQuery(name, type, o);
  const socket = net.connect({ host, port, localAddress: o.localAddress });
  return new Promise<QueryResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no TCP answer from ${host}#${port} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(dnsPacket.streamEncode(packet)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      clearTimeout(timer);
      resolve({ response: dnsPacket.streamDecode(received), localPort: socket.localPort ?? 0 });
    });
  }).finally(() => socket.destroy());
}
