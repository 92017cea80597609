/**
 * Forged answers against the built mx-check, on the test network. A private named serves a zone
 * on a root-namespace address of the test bridge; mx-check runs isolated in the v2 namespace (no
 * route off the /24, loopback-only resolver files) and asks it. Two attackers lie at once — every
 * forged answer says MX 10 localhost., 10.66.6.6 or fd66::6, the zone says otherwise:
 *  - a blind, off-path forger in the v1 namespace: the server's exact address and port (spoofed
 *    through a raw socket), a guessed destination port and a guessed ID, as fast as it can;
 *  - a forger that watches the queries leave the client (stronger than off-path) and races the
 *    real answer with forgeries right in all but one respect: another port of the server, another
 *    address, another ID, another name, another type, truncated, garbage, and with --0x20 the
 *    name in the other case.
 * No forgery may be believed: every verdict and every record is the zone's. The figures (forgeries
 * sent, and what mx-check rejected) are printed for the README.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, namedOptions, startPrivateNamed, type PrivateNamed } from './private-named.js';
import { toolBin } from './run-tool.js';
import { services } from './services-env.js';

const run = promisify(execFile);
const FORGER = fileURLToPath(new URL('../scripts/dns-forger.py', import.meta.url));
const DOMAINS = 1200;

let dir: string;
let port: number;
let named: PrivateNamed | undefined;
let serverIp: string;
let clientNs: string;
let clientIp: string;
let altIp: string;
let blindNs: string;
let clientPorts: string;
const forgers: ChildProcess[] = [];

interface Expected {
  verdict: string;
  mx: { preference: number; exchange: string; addresses: string[]; cname: string[] }[];
}

const domain = (i: number) => `d${i}.forge.test`;
/** Every tenth domain declares no mail (null MX); the others take mail at their own exchange. */
const isNullMx = (i: number) => i % 10 === 9;

function expected(i: number): Expected {
  if (isNullMx(i)) return { verdict: 'no_mail', mx: [{ preference: 0, exchange: '.', addresses: [], cname: [] }] };
  return {
    verdict: 'ok',
    mx: [
      {
        preference: 10,
        exchange: `mx.${domain(i)}`,
        addresses: [`192.0.2.${(i % 250) + 1}`, `2001:db8::${(i + 1).toString(16)}`],
        cname: [],
      },
    ],
  };
}

function zone(): string {
  const lines = [
    '$TTL 300',
    '@ IN SOA ns1.forge.test. hostmaster.forge.test. 1 3600 600 86400 300',
    '@ IN NS ns1.forge.test.',
    `ns1 A ${serverIp}`,
  ];
  for (let i = 0; i < DOMAINS; i++) {
    const d = domain(i);
    if (isNullMx(i)) {
      lines.push(`${d}. MX 0 .`, `${d}. TXT "v=spf1 -all"`);
      continue;
    }
    const e = expected(i).mx[0];
    lines.push(`${d}. MX 10 mx.${d}.`, `mx.${d}. A ${e?.addresses[0]}`, `mx.${d}. AAAA ${e?.addresses[1]}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Starts the forger (in a network namespace) and waits for its "ready" line. */
async function startForger(ns: string, args: string[]): Promise<{ child: ChildProcess; sent: Promise<Record<string, number>> }> {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', FORGER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  forgers.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`forger ${args[0]} not ready within 10 s: ${err}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`forger ${args[0]} exited (${code}) before it was ready: ${err}`)));
  });
  const sent = exited.then((code) => {
    if (code !== 0) throw new Error(`forger ${args[0]} exited with ${code}: ${err}`);
    return JSON.parse(out.slice('ready\n'.length)) as Record<string, number>;
  });
  return { child, sent };
}

interface Rejected {
  total: number;
  wrongSource: number;
  unexpected: number;
  mismatched: number;
  caseOnly: number;
  garbage: number;
}

function parseRejected(stderr: string): Rejected {
  const m =
    /^mx-check: (\d+) answer\(s\) rejected: (\d+) from an address or port not asked, (\d+) with an ID not awaited \(late or forged\), (\d+) with another question(?: \((\d+) in another case: 0x20\))?, (\d+) undecodable$/m.exec(
      stderr,
    );
  if (!m) throw new Error(`no rejected-answers line on stderr: ${stderr}`);
  const n = (k: number) => Number(m[k] ?? 0);
  return { total: n(1), wrongSource: n(2), unexpected: n(3), mismatched: n(4), caseOnly: n(5), garbage: n(6) };
}

beforeAll(async () => {
  const env = services();
  serverIp = env.network.rootAddresses[0] as string;
  altIp = env.network.rootAddresses[1] as string;
  clientNs = env.network.namespaces.v2.name;
  clientIp = env.network.namespaces.v2.addresses[0] as string;
  blindNs = env.network.namespaces.v1.name;
  // the kernel's choice of source ports in the client's namespace: the range a blind forger guesses in
  clientPorts = (await run('ip', ['netns', 'exec', clientNs, 'cat', '/proc/sys/net/ipv4/ip_local_port_range'])).stdout
    .trim()
    .split(/\s+/)
    .join('-');
  dir = mkdtempSync(join(tmpdir(), 'mx-check-forgery-'));
  port = await freePort();
  writeFileSync(join(dir, 'forge.zone'), zone());
  writeFileSync(join(dir, 'domains.txt'), `${Array.from({ length: DOMAINS }, (_, i) => domain(i)).join('\n')}\n`);
  // what the blind forger asks about: the domains (MX) and their exchanges (A, AAAA)
  writeFileSync(
    join(dir, 'names.txt'),
    `${Array.from({ length: DOMAINS }, (_, i) => (isNullMx(i) ? domain(i) : `${domain(i)}\nmx.${domain(i)}`)).join('\n')}\n`,
  );
  await run('named-checkzone', ['-i', 'local', 'forge.test', join(dir, 'forge.zone')]);
  const conf = `${namedOptions(dir, [`listen-on port ${port} { 127.0.0.1; ${serverIp}; };`, 'listen-on-v6 { none; };'], ['minimal-responses yes;'])}logging { channel g { file "${dir}/named.log"; severity info; }; category default { g; }; };
zone "forge.test" { type primary; file "${dir}/forge.zone"; };
`;
  named = await startPrivateNamed({ dir, conf, port, probe: ['d0.forge.test', 'MX'] });
});

afterAll(async () => {
  for (const f of forgers) if (f.exitCode === null && f.signalCode === null) f.kill('SIGKILL');
  await named?.stop();
  if (!process.env.MXKEEP) rmSync(dir, { recursive: true, force: true });
});

/** The built mx-check in the client namespace, with loopback-only resolver files. */
async function mxCheckIsolated(extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    'netns',
    'exec',
    clientNs,
    services().loOnlyWrapper,
    process.execPath,
    toolBin('mx-check'),
    '--resolver',
    `${serverIp}:${port}`,
    '--file',
    join(dir, 'domains.txt'),
    '--json',
    '--treat-as-global',
    '192.0.2.0/24',
    '--treat-as-global',
    '2001:db8::/32',
    '--timeout',
    '2s',
    '--retries',
    '2',
    ...extra,
  ];
  try {
    const { stdout, stderr } = await run('ip', args, { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function underAttack(isCase: boolean): Promise<void> {
  const raceArgs = ['race', '--iface', 'eth0', '--server', `${serverIp}:${port}`, '--alt-ip', altIp, ...(isCase ? ['--case'] : [])];
  const race = await startForger(clientNs, raceArgs);
  const blind = await startForger(blindNs, [
    'blind',
    '--server',
    `${serverIp}:${port}`,
    '--client',
    clientIp,
    '--ports',
    clientPorts,
    '--names',
    join(dir, 'names.txt'),
    '--rate',
    '40000',
  ]);
  const t0 = Date.now();
  const r = await mxCheckIsolated(isCase ? ['--0x20'] : []);
  const seconds = (Date.now() - t0) / 1000;
  race.child.kill('SIGTERM');
  blind.child.kill('SIGTERM');
  const raced = await race.sent;
  const blindSent = (await blind.sent).blind ?? 0;

  // not one forgery believed: every domain has the zone's verdict and the zone's records
  const got = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { domain: string } & Expected);
  expect(got.map((g) => g.domain)).toEqual(Array.from({ length: DOMAINS }, (_, i) => domain(i)));
  const wrong = got.filter((g, i) => JSON.stringify({ verdict: g.verdict, mx: g.mx }) !== JSON.stringify(expected(i)));
  expect(wrong.slice(0, 3)).toEqual([]);
  expect(r.code).toBe(0);

  const rejected = parseRejected(r.stderr);
  const racedTotal = Object.values(raced).reduce((a, b) => a + b, 0);
  const label = isCase ? 'with --0x20' : 'without --0x20';
  console.log(
    `mx-check forgery figures (${label}): ${DOMAINS} domains in ${seconds.toFixed(2)} s, all verdicts the zone's; ` +
      `blind forger sent ${blindSent} spoofed answers (server's address and port, guessed port in ${clientPorts} and ID); ` +
      `racing forger sent ${racedTotal} (${JSON.stringify(raced)}); ` +
      `mx-check rejected ${rejected.total}: ${rejected.wrongSource} from an address or port not asked, ${rejected.unexpected} with an ID not awaited, ` +
      `${rejected.mismatched} with another question (${rejected.caseOnly} in another case), ${rejected.garbage} undecodable; accepted 0`,
  );
  // the attack happened, and the forgeries reached mx-check while it waited for the real answers
  expect(blindSent).toBeGreaterThan(1000);
  for (const v of [
    'wrongPort',
    'wrongAddress',
    'wrongId',
    'wrongName',
    'wrongType',
    'truncated',
    'garbage',
    ...(isCase ? ['wrongCase'] : []),
  ]) {
    expect(raced[v], v).toBeGreaterThan(DOMAINS / 2);
  }
  expect(rejected.wrongSource).toBeGreaterThan(0);
  expect(rejected.mismatched).toBeGreaterThan(0);
  expect(rejected.garbage).toBeGreaterThan(0);
  if (isCase) expect(rejected.caseOnly).toBeGreaterThan(0);
}

describe('mx-check under forged answers', () => {
  it('believes no forgery: off-path blind spoofing and forgeries racing every real answer (no --0x20)', async () => {
    await underAttack(false);
  }, 120_000);

  it('believes no forgery with --0x20, also when the forger echoes the name in another case', async () => {
    await underAttack(true);
  }, 120_000);

  it('the zone alone gives the same verdicts, and nothing is rejected', async () => {
    const r = await mxCheckIsolated([]);
    const got = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Expected);
    expect(got.map((g) => g.verdict)).toEqual(Array.from({ length: DOMAINS }, (_, i) => expected(i).verdict));
    expect(r.stderr).toBe('');
    expect(readFileSync(join(dir, 'domains.txt'), 'utf8').split('\n')).toHaveLength(DOMAINS + 1);
  }, 60_000);
});
