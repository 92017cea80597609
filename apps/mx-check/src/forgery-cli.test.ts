/**
 * The command line with forged answers racing the real ones: the verdict comes from the real
 * answers, and stderr says how many answers were rejected and why.
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from './cli.js';
import { startFakeDns, type FakeDns } from './testing/fake-dns.js';

const MX = (name: string, exchange: string): Answer => ({ type: 'MX', name, ttl: 60, data: { preference: 10, exchange } });
const A = (name: string, data: string): Answer => ({ type: 'A', name, ttl: 60, data });

let dns: FakeDns | undefined;
let forger: dgram.Socket | undefined;
afterEach(async () => {
  forger?.close();
  await dns?.close();
  forger = undefined;
  dns = undefined;
});

/** MX 10 localhost. for an MX question, 10.6.6.6 for anything else: what a forger wants believed. */
function lie(q: DecodedPacket, over: { name?: string } = {}): Buffer {
  const question = q.questions?.[0];
  const name = over.name ?? question?.name ?? '';
  const answers = question?.type === 'MX' ? [MX(name, 'localhost')] : [A(name, '10.6.6.6')];
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name, type: question?.type ?? 'A', class: 'IN' }],
    answers,
  });
}

describe('mx-check with forged answers racing the real ones', () => {
  it("--0x20: forgeries from another port and in the wrong case are rejected and counted; the verdict is the zone's", async () => {
    const f = dgram.createSocket('udp4');
    await new Promise<void>((r) => f.bind(0, '127.0.0.1', r));
    forger = f;
    dns = await startFakeDns({
      records: { 'shop.test': [MX('shop.test', 'mx.shop.test')], 'mx.shop.test': [A('mx.shop.test', '192.0.2.25')] },
      answerDelayMs: 30,
      onQuery: (q, from, reply) => {
        f.send(lie(q), from.port, from.address);
        // every letter in the other case: never the spelling that was sent
        const sent = q.questions?.[0]?.name ?? '';
        reply(lie(q, { name: [...sent].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('') }));
      },
    });
    const io = createMemoryIo();
    const exit = await runCli(
      'mx-check',
      buildProgram,
      [
        'node',
        'mx-check',
        '--resolver',
        `127.0.0.1:${dns.port}`,
        '--treat-as-global',
        '192.0.2.0/24',
        '--0x20',
        '--retries',
        '0',
        '--json',
        'shop.test',
      ],
      io,
    );
    expect(JSON.parse(io.out()) as unknown).toMatchObject({
      domain: 'shop.test',
      verdict: 'ok',
      mx: [{ exchange: 'mx.shop.test', addresses: ['192.0.2.25'] }],
    });
    // MX, A and AAAA: three questions, each met by two forgeries
    expect(io.err()).toBe(
      'mx-check: 6 answer(s) rejected: 3 from an address or port not asked, 0 with an ID not awaited (late or forged), 3 with another question (3 in another case: 0x20), 0 undecodable\n',
    );
    expect(exit).toBe(0);
  });
});
