import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { services } from './services-env.js';

const dns = services().named;
const TIMEOUT_MS = 3_000;

interface QueryResult {
  response: DecodedPacket | Packet;
  /** The source port the query left from, as named logs it. */
  localPort: number;
}

function query(name: string, type: RecordType): Packet {
  return { type: 'query', id: Math.floor(Math.random() * 65_536), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] };
}

function udpQuery(host: string, name: string, type: RecordType): Promise<QueryResult> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const packet = query(name, type);
  return new Promise<QueryResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no UDP answer from ${host}#${dns.port} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    socket.on('error', reject);
    socket.on('message', (message) => {
      const response = dnsPacket.decode(message);
      if (response.id !== packet.id) return;
      clearTimeout(timer);
      resolve({ response, localPort: socket.address().port });
    });
    socket.send(dnsPacket.encode(packet), dns.port, host);
  }).finally(() => socket.close());
}

function tcpQuery(host: string, name: string, type: RecordType): Promise<QueryResult> {
  const packet = query(name, type);
  const socket = net.connect({ host, port: dns.port });
  return new Promise<QueryResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no TCP answer from ${host}#${dns.port} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
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

function mxRecords(answers: Answer[] | undefined): { preference: number | undefined; exchange: string }[] {
  return (answers ?? []).flatMap((a) => (a.type === 'MX' ? [{ preference: a.data.preference, exchange: a.data.exchange }] : []));
}

/** The query-log line for `needle`, written after byte `offset`; polls for up to 5 s. */
async function queryLogLine(offset: number, needle: string): Promise<string> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const text = (await readFile(dns.queryLog)).subarray(offset).toString('utf8');
    const line = text.split('\n').find((l) => l.includes(needle));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no line with ${JSON.stringify(needle)} in ${dns.queryLog} within 5 s; new lines: ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function queryLogSize(): Promise<number> {
  return (await stat(dns.queryLog).catch(() => ({ size: 0 }))).size;
}

// BIND 9.18: `25-Nov-2026 09:38:30.348 queries: info: client @0x7f3729afc098 127.0.0.1#54825
// (example.test): query: example.test IN MX + (127.0.0.1)`
function queryLogShape(address: string, name: string, type: RecordType): RegExp {
  const a = address.replace(/\./g, '\\.');
  const n = name.replace(/\./g, '\\.');
  return new RegExp(
    `^\\d{2}-[A-Z][a-z]{2}-\\d{4} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} queries: info: client @0x[0-9a-f]+ ${a}#(\\d+) \\(${n}\\): query: ${n} IN ${type} ([+-][A-Z0-9()]*) \\(${a}\\)$`,
  );
}

describe('named', () => {
  it('answers example.test MX over UDP from the zone, authoritatively, and logs the query', async () => {
    const offset = await queryLogSize();
    const { response, localPort } = await udpQuery(dns.host, 'example.test', 'MX');
    expect(response.type).toBe('response');
    expect((response as DecodedPacket).flag_aa).toBe(true);
    expect(mxRecords(response.answers)).toEqual([{ preference: 10, exchange: 'mail.example.test' }]);

    const line = await queryLogLine(offset, `127.0.0.1#${localPort} `);
    const match = queryLogShape('127.0.0.1', 'example.test', 'MX').exec(line);
    expect(match, line).not.toBeNull();
    expect(Number(match?.[1])).toBe(localPort);
    expect(match?.[2]).toMatch(/^\+/); // recursion desired was set
    expect(match?.[2]).not.toContain('T');
  });

  it('answers over TCP, and the log marks the query as TCP', async () => {
    const offset = await queryLogSize();
    const { response, localPort } = await tcpQuery(dns.host, 'multi.example.test', 'MX');
    expect(mxRecords(response.answers).sort((a, b) => (a.preference ?? 0) - (b.preference ?? 0))).toEqual([
      { preference: 10, exchange: 'mx1.example.test' },
      { preference: 20, exchange: 'mx2.example.test' },
    ]);
    const line = await queryLogLine(offset, `127.0.0.1#${localPort} `);
    expect(line).toMatch(queryLogShape('127.0.0.1', 'multi.example.test', 'MX'));
    expect(queryLogShape('127.0.0.1', 'multi.example.test', 'MX').exec(line)?.[2]).toContain('T');
  });

  it('answers on ::1 too, and logs the IPv6 client', async () => {
    const offset = await queryLogSize();
    const { response, localPort } = await udpQuery(dns.host6, 'nullmx.example.test', 'MX');
    expect(mxRecords(response.answers)).toEqual([{ preference: 0, exchange: '.' }]);
    const line = await queryLogLine(offset, `::1#${localPort} `);
    expect(line).toMatch(queryLogShape('::1', 'nullmx.example.test', 'MX'));
  });

  it('serves the test network zone', async () => {
    const { response } = await udpQuery(dns.host, 'v1.toolbox.test', 'A');
    const v1 = services().network.namespaces.v1.addresses[0];
    expect(response.answers?.map((a) => (a.type === 'A' ? a.data : null))).toEqual([v1]);
  });

  it('is controlled by rndc with the generated key', async () => {
    const { stdout } = await promisify(execFile)('rndc', ['-c', dns.rndcConf, 'status'], { timeout: 10_000 });
    expect(stdout).toContain('server is up and running');
    expect(stdout).toMatch(/number of zones: \d+/);
  });
});
