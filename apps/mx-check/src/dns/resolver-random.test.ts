/**
 * Query IDs come from node:crypto, never from Math.random: the crypto module is wrapped so that
 * every ID it hands out is seen, and Math.random is pinned to 0.
 */
import type * as Crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DnsResolver } from './resolver.js';
import { startFakeDns, type FakeDns } from '../testing/fake-dns.js';

const handedOut = vi.hoisted(() => ({ ids: [] as number[] }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof Crypto>();
  const randomInt = (max: number): number => {
    const v = real.randomInt(max);
    if (max === 65_536) handedOut.ids.push(v);
    return v;
  };
  return { ...real, default: { ...real, randomInt }, randomInt };
});

let server: FakeDns | undefined;
let resolver: DnsResolver | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  resolver?.close();
  await server?.close();
});

describe('query IDs', () => {
  it('come from crypto.randomInt (Math.random pinned to 0 changes nothing)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    server = await startFakeDns({ records: { 'a.test': [{ type: 'A', name: 'a.test', ttl: 60, data: '192.0.2.1' }] } });
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: 500, retries: 0 });
    handedOut.ids.length = 0;
    for (let i = 0; i < 200; i++) await resolver.query('a.test', 'A');
    const sent = server.udpSeen.map((q) => q.id);
    expect(sent).toEqual(handedOut.ids);
    expect(new Set(sent).size).toBeGreaterThan(190);
  });
});
