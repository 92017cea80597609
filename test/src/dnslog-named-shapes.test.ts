/**
 * The parser against lines a real named writes in shapes the shared test server does not produce:
 * views, TSIG-signed queries, ECS, ISO-8601 times, IPv6, and every flag dig can set. A private named
 * with its own configuration runs for this file only.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, namedOptions, startPrivateNamed, type PrivateNamed } from './private-named.js';

const run = promisify(execFile);
const DNSLOG = fileURLToPath(new URL('../../apps/dnslog/bin/dnslog.js', import.meta.url));
const SECRET = Buffer.from('toolbox-test-tsig-secret-0123456789').toString('base64');

let dir: string;
let port: number;
let named: PrivateNamed | undefined;

function conf(): string {
  const zone = (file: string) => `zone "example.test" { type primary; file "${file}"; };`;
  return `
key "tsig-test" { algorithm hmac-sha256; secret "${SECRET}"; };
${namedOptions(dir, [`listen-on port ${port} { 127.0.0.1; };`, `listen-on-v6 port ${port} { ::1; };`], ['querylog yes;'])}logging {
  channel q { file "${dir}/query.log"; severity info; print-time iso8601; print-category yes; print-severity yes; };
  channel g { file "${dir}/named.log"; severity info; print-time yes; };
  category queries { q; };
  category default { g; };
};
view "lab" { match-clients { key tsig-test; 127.0.0.8; }; ${zone(`${dir}/zone`)} };
view "main" { match-clients { any; }; ${zone(`${dir}/zone`)} };
`;
}

async function dig(args: string[]): Promise<void> {
  await run('dig', ['-p', String(port), '+tries=1', '+time=2', ...args], { timeout: 10_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-named-'));
  port = await freePort();
  writeFileSync(
    join(dir, 'zone'),
    '$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nns1 IN A 127.0.0.1\n* IN A 127.0.0.1\n* IN TXT "x"\n* IN MX 10 ns1\n* IN AAAA ::1\n',
  );
  named = await startPrivateNamed({ dir, conf: conf(), port, probe: ['ns1.example.test', 'A'] });
});

afterAll(async () => {
  await named?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Rec = Record<string, unknown>;

async function parsed(): Promise<Map<string, Rec>> {
  // named writes asynchronously: wait until every query we sent is in the file
  const { stdout } = await run(process.execPath, [DNSLOG, 'parse', '--json', join(dir, 'query.log')], { timeout: 30_000 });
  const byName = new Map<string, Rec>();
  for (const l of stdout.trim().split('\n')) {
    const r = JSON.parse(l) as Rec;
    byName.set(String(r.qname), r);
  }
  return byName;
}

describe('dnslog parse on lines from a real named with views, TSIG, ECS and ISO times', () => {
  it('decodes each query exactly as it was sent', async () => {
    await dig(['@127.0.0.1', '-b', '127.0.0.8', 'lab.example.test', 'A', '+norec']);
    await dig(['@127.0.0.1', '-b', '127.0.0.2', 'flags.example.test', 'MX', '+tcp', '+dnssec', '+cd']);
    await dig(['@::1', 'six.example.test', 'AAAA', '+nocookie']);
    await dig(['@127.0.0.1', '-b', '127.0.0.3', '-y', `hmac-sha256:tsig-test:${SECRET}`, 'signed.example.test', 'TXT']);
    await dig(['@127.0.0.1', '-b', '127.0.0.4', 'ecs.example.test', 'A', '+subnet=192.0.2.0/24']);
    await dig(['@127.0.0.1', '-b', '127.0.0.5', 'noedns.example.test', 'TYPE65', '+noedns']);

    const deadline = Date.now() + 5_000;
    while (
      readFileSync(join(dir, 'query.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('.example.test')).length < 7
    ) {
      if (Date.now() > deadline) throw new Error(`named did not log every query:\n${readFileSync(join(dir, 'query.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const recs = await parsed();
    const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/;

    expect(recs.get('lab.example.test')).toMatchObject({
      client_ip: '127.0.0.8',
      view: 'lab',
      qclass: 'IN',
      qtype: 'A',
      rd: false,
      tcp: false,
      signed: false,
      dest_ip: '127.0.0.1',
    });
    expect(recs.get('lab.example.test')?.time).toMatch(time);
    expect(recs.get('flags.example.test')).toMatchObject({
      client_ip: '127.0.0.2',
      view: 'main',
      qtype: 'MX',
      rd: true,
      tcp: true,
      do: true,
      cd: true,
      edns: 0,
    });
    expect(recs.get('six.example.test')).toMatchObject({ client_ip: '::1', view: 'main', qtype: 'AAAA', dest_ip: '::1', cookie: null });
    expect(recs.get('signed.example.test')).toMatchObject({
      client_ip: '127.0.0.3',
      view: 'lab',
      qtype: 'TXT',
      signed: true,
      signer: 'tsig-test',
    });
    expect(recs.get('ecs.example.test')).toMatchObject({ client_ip: '127.0.0.4', view: 'main', ecs: '192.0.2.0/24/0' });
    expect(recs.get('noedns.example.test')).toMatchObject({ client_ip: '127.0.0.5', edns: null, qtype: 'HTTPS' });
    for (const r of recs.values()) expect(Number(r.client_port)).toBeGreaterThan(0);
  });
});
