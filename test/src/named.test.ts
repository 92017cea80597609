import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { tcpQuery as tcp, udpQuery as udp } from './dns-client.js';
import { services } from './services-env.js';

const dns = services().named;

const udpQuery = (host: string, name: string, type: RecordType) => udp(host, dns.port, name, type);
const tcpQuery = (host: string, name: string, type: RecordType) => tcp(host, dns.port, name, type);

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
    if (Date.now() > deadline)
      throw new Error(`no line with ${JSON.stringify(needle)} in ${dns.queryLog} within 5 s; new lines: ${JSON.stringify(text)}`);
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
