/**
 * The built mx-check against a DNS server that misbehaves on purpose (an in-process dns-packet
 * server on loopback): drops, garbage, wrong IDs, SERVFAIL, silence. Every domain must still get a
 * verdict, quickly, and the exit code must say what happened.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';

type Mode = 'drop-first-fifth' | 'garbage' | 'wrong-id' | 'servfail' | 'silent';

interface Bad {
  port: number;
  received: number;
  dropped: number;
  close(): Promise<void>;
}

let server: Bad | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Answers any NAME MX with `10 mx.NAME` and mx.* A with 192.0.2.1, misbehaving as told. */
async function start(mode: Mode): Promise<Bad> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const seen = new Set<string>();
  const state: Bad = { port: sock.address().port, received: 0, dropped: 0, close: () => new Promise<void>((r) => sock.close(() => r())) };
  sock.on('message', (msg, rinfo) => {
    state.received++;
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    const key = `${question.name} ${question.type}`;
    const send = (b: Buffer) => sock.send(b, rinfo.port, rinfo.address);
    if (mode === 'silent') return;
    if (mode === 'drop-first-fifth' && !seen.has(key) && (createHash('sha1').update(key).digest()[0] ?? 0) % 5 === 0) {
      seen.add(key);
      state.dropped++;
      return;
    }
    if (mode === 'garbage') return void send(Buffer.from([(q.id ?? 0) >> 8, (q.id ?? 0) & 255, 0x81, 0x80, 0, 9, 0xff]));
    const answers: Answer[] = [];
    if (question.type === 'MX' && !question.name.startsWith('mx.'))
      answers.push({ type: 'MX', name: question.name, ttl: 60, data: { preference: 10, exchange: `mx.${question.name}` } });
    if (question.type === 'A' && question.name.startsWith('mx.'))
      answers.push({ type: 'A', name: question.name, ttl: 60, data: '192.0.2.1' });
    const res: Packet = {
      type: 'response',
      id: q.id,
      flags: mode === 'servfail' ? 2 : dnsPacket.AUTHORITATIVE_ANSWER,
      questions: q.questions,
      answers: mode === 'servfail' ? [] : answers,
    };
    if (mode === 'wrong-id') res.id = ((q.id ?? 0) + 1) & 0xffff;
    send(dnsPacket.encode(res));
  });
  return state;
}

const mxCheck = (args: string[]): Promise<ToolRun> => runTool('mx-check', args, { timeoutMs: 30_000 });

const domains = (n: number) => Array.from({ length: n }, (_, i) => `d${i}.example.test`);
const verdicts = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { verdict: string }).verdict);

describe('mx-check against a misbehaving resolver', () => {
  it('a resolver that drops a fifth of the questions: every domain still gets its verdict (retries)', async () => {
    server = await start('drop-first-fifth');
    const r = await mxCheck([
      '--resolver',
      `127.0.0.1:${server.port}`,
      '--treat-as-global',
      '192.0.2.0/24',
      '--timeout',
      '500ms',
      '--retries',
      '3',
      '--json',
      ...domains(300),
    ]);
    expect(verdicts(r.stdout)).toEqual(Array<string>(300).fill('ok'));
    expect(server.dropped).toBeGreaterThan(300 * 3 * 0.1);
    expect(r.code).toBe(0);
  });

  it('a dead resolver: error for every domain, quickly, and exit 2', async () => {
    server = await start('silent');
    const t0 = Date.now();
    // waiting out every domain would take 50 waves of 20 x 2 x 250 ms = 25 s
    const r = await mxCheck([
      '--resolver',
      `127.0.0.1:${server.port}`,
      '--timeout',
      '250ms',
      '--retries',
      '1',
      '--concurrency',
      '20',
      '--json',
      ...domains(1000),
    ]);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(verdicts(r.stdout)).toEqual(Array<string>(1000).fill('error'));
    expect(r.stderr).toMatch(/^mx-check: no resolver answered \(127\.0\.0\.1:\d+: \d+ queries timed out\)\n$/);
    // only the first wave was sent at all: the rest failed at once
    expect(server.received).toBeLessThanOrEqual(20 * 2);
    expect(r.code).toBe(2);
  });

  it('garbage and wrong IDs are ignored and counted: errors, exit 2', async () => {
    for (const mode of ['garbage', 'wrong-id'] as const) {
      server = await start(mode);
      const r = await mxCheck([
        '--resolver',
        `127.0.0.1:${server.port}`,
        '--timeout',
        '150ms',
        '--retries',
        '1',
        '--json',
        'a.example.test',
        'b.example.test',
      ]);
      expect(verdicts(r.stdout)).toEqual(['error', 'error']);
      expect(r.stderr).toMatch(/^mx-check: no resolver answered \(127\.0\.0\.1:\d+: 2 queries timed out, 4 bad answers ignored\)\n$/);
      expect(r.code).toBe(2);
      await server.close();
      server = undefined;
    }
  });

  it('SERVFAIL: the lookup failed, said per domain, exit 1', async () => {
    server = await start('servfail');
    const r = await mxCheck(['--resolver', `127.0.0.1:${server.port}`, '--timeout', '200ms', '--retries', '1', '--json', 'a.example.test']);
    expect(JSON.parse(r.stdout) as unknown).toMatchObject({
      verdict: 'error',
      findings: [{ code: 'LOOKUP_FAILED', severity: 'fail', record: null, detail: `MX lookup: SERVFAIL from 127.0.0.1:${server.port}` }],
    });
    expect(server.received).toBe(2);
    expect(r.code).toBe(1);
  });
});
