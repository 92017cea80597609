/**
 * mx-check --authoritative against real BIND servers on the test network: a primary and a real
 * secondary of auth.test in the tbx-v2 namespace, the secondary's copy left behind (it transferred
 * serial 4294967295, then the primary moved to serial 0 — newer under RFC 1982 — with another MX
 * and stopped allowing transfers), and lame entries in the NS set: a server that only knows the
 * parent zone (a referral), one that REFUSES, an address where nothing listens, and one where
 * nobody is. The resolver mx-check is given is a private named on loopback, authoritative for the
 * root zone and for its own copy of the test zones (it answers as a recursive resolver would);
 * the same named plays the referral and REFUSED servers on two bridge addresses, told apart by
 * views. Authoritative servers are asked on port 53, as in the wild.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, namedOptions, startPrivateNamed, type PrivateNamed } from './private-named.js';
import { runTool, type ToolRun } from './run-tool.js';
import { services } from './services-env.js';

const run = promisify(execFile);

const OLD_SERIAL = 4294967295;
const NEW_SERIAL = 0; // 4294967295 + 1, wrapped: newer (RFC 1982)

let dir: string;
let port: number;
let primaryAddr: string;
let secondaryAddr: string;
let referralAddr: string;
let refusedAddr: string;
let closedAddr: string;
let deadAddr: string;
const started: PrivateNamed[] = [];

interface Finding {
  code: string;
  severity: string;
  record: string | null;
  detail: string;
}
interface Result {
  domain: string;
  verdict: string;
  findings: Finding[];
  authoritative?: {
    zone: string | null;
    ns: string[];
    servers: {
      ns: string;
      address: string;
      lame: { how: string; detail: string } | null;
      serial: number | null;
      rcode: string | null;
      mx: string[] | null;
    }[];
    unresolvable: { ns: string; why: string }[];
  };
}

const SOA = (serial: number) => `@ IN SOA ns1.lab.test. hostmaster.lab.test. ${serial} 3600 600 86400 300`;
const AUTH_NS = [1, 2, 3, 4, 5, 6].map((i) => `@ NS ns${i}.lab.test.`).join('\n');

function rootZone(): string {
  return `$TTL 300
${SOA(1)}
@ NS ns.root.test.
ns.root.test. A 127.0.0.1
ns1.lab.test. A ${primaryAddr}
ns2.lab.test. A ${secondaryAddr}
ns3.lab.test. A ${referralAddr}
ns4.lab.test. A ${refusedAddr}
ns5.lab.test. A ${closedAddr}
ns6.lab.test. A ${deadAddr}
${[1, 2, 3, 4, 5, 6].map((i) => `auth.test. NS ns${i}.lab.test.`).join('\n')}
good.test. NS ns1.lab.test.
nowhere.test. NS ns1.gone.test.
nowhere.test. NS ns2.gone.test.
evil.test. NS ns\\027[31m.gone.test.
`;
}

/** auth.test as the primary serves it: `mx` is its MX target. */
const authZone = (serial: number, mx: string) => `$TTL 300
${SOA(serial)}
${AUTH_NS}
@ MX 10 ${mx}.auth.test.
mx1 A 192.0.2.25
mx-old A 192.0.2.26
`;

const simpleZone = (ns: string[], mx: string) => `$TTL 300
${SOA(1)}
${ns.map((n) => `@ NS ${n}.`).join('\n')}
@ MX 10 ${mx}.
`;

const quiet = ['listen-on-v6 { none; };'];
const logging = (d: string) =>
  `logging { channel g { file "${d}/named.log"; severity info; }; category default { g; }; };\ncontrols { };\n`;

function primaryConf(d: string, allowTransfer: string): string {
  return `${namedOptions(d, [`listen-on port 53 { ${primaryAddr}; };`, ...quiet], [`allow-transfer { ${allowTransfer}; };`])}${logging(d)}
zone "auth.test" { type primary; file "${d}/auth.zone"; };
zone "good.test" { type primary; file "${d}/good.zone"; };
`;
}

async function soaSerial(addr: string, zone: string): Promise<string> {
  const { stdout } = await run('dig', ['-p', '53', `@${addr}`, '+norecurse', '+tries=1', '+time=1', '+short', zone, 'SOA'], {
    timeout: 5_000,
  });
  return stdout.trim().split(/\s+/)[2] ?? '';
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mxCheck = (args: string[]): Promise<ToolRun> =>
  runTool(
    'mx-check',
    ['--resolver', `127.0.0.1:${port}`, '--treat-as-global', '192.0.2.0/24', '--timeout', '700ms', '--retries', '1', ...args],
    { timeoutMs: 30_000 },
  );

async function check(...domains: string[]): Promise<{ run: ToolRun; results: Map<string, Result> }> {
  const r = await mxCheck(['--authoritative', '--json', ...domains]);
  const results = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Result)
      .map((x) => [x.domain, x] as const),
  );
  return { run: r, results };
}

beforeAll(async () => {
  const net = services().network;
  const v2 = net.namespaces.v2;
  [primaryAddr = '', secondaryAddr = ''] = v2.addresses;
  [referralAddr = '', refusedAddr = ''] = net.rootAddresses;
  closedAddr = net.namespaces.v1.addresses[0] ?? '';
  // an address in the test subnet that nobody holds: questions to it get no answer at all
  deadAddr = net.bridgeAddress.replace(/\.\d+$/, '.99');
  dir = mkdtempSync(join(tmpdir(), 'mx-check-auth-'));
  const [pDir, sDir, rDir] = ['primary', 'secondary', 'resolver'].map((n) => join(dir, n)) as [string, string, string];
  for (const d of [pDir, sDir, rDir]) mkdirSync(d);

  // 1. the primary serves the old zone; the secondary transfers it
  writeFileSync(join(pDir, 'auth.zone'), authZone(OLD_SERIAL, 'mx-old'));
  writeFileSync(join(pDir, 'good.zone'), simpleZone(['ns1.lab.test'], 'mx1.auth.test'));
  started.push(
    await startPrivateNamed({
      dir: pDir,
      conf: primaryConf(pDir, 'any'),
      port: 53,
      host: primaryAddr,
      netns: v2.name,
      probe: ['auth.test', 'SOA'],
    }),
  );
  const secondaryConf = `${namedOptions(sDir, [`listen-on port 53 { ${secondaryAddr}; };`, ...quiet])}${logging(sDir)}
zone "auth.test" { type secondary; primaries { ${primaryAddr}; }; file "${sDir}/auth.copy"; };
`;
  started.push(
    await startPrivateNamed({ dir: sDir, conf: secondaryConf, port: 53, host: secondaryAddr, netns: v2.name, probe: ['auth.test', 'SOA'] }),
  );
  await waitFor(
    `the secondary did not transfer serial ${OLD_SERIAL}`,
    async () => (await soaSerial(secondaryAddr, 'auth.test')) === String(OLD_SERIAL),
  );

  // 2. the primary moves on (serial wraps to 0, another MX) and stops allowing transfers: the
  //    secondary (refresh 3600 s, no NOTIFY) keeps serving its old copy
  const first = started.shift();
  await first?.stop();
  writeFileSync(join(pDir, 'auth.zone'), authZone(NEW_SERIAL, 'mx1'));
  started.push(
    await startPrivateNamed({
      dir: pDir,
      conf: primaryConf(pDir, 'none'),
      port: 53,
      host: primaryAddr,
      netns: v2.name,
      probe: ['auth.test', 'SOA'],
    }),
  );
  await waitFor('the primary did not serve serial 0', async () => (await soaSerial(primaryAddr, 'auth.test')) === String(NEW_SERIAL));

  // 3. the resolver (loopback, its own view of the zones), and on two bridge addresses a server
  //    that only knows the parent (root) zone and one that serves nothing
  port = await freePort();
  writeFileSync(join(rDir, 'root.zone'), rootZone());
  writeFileSync(join(rDir, 'parent.zone'), rootZone());
  writeFileSync(join(rDir, 'auth.zone'), authZone(NEW_SERIAL, 'mx1'));
  writeFileSync(join(rDir, 'good.zone'), simpleZone(['ns1.lab.test'], 'mx1.auth.test'));
  writeFileSync(join(rDir, 'nowhere.zone'), `${simpleZone(['ns1.gone.test', 'ns2.gone.test'], 'mx.nowhere.test')}mx A 192.0.2.27\n`);
  writeFileSync(join(rDir, 'evil.zone'), `${simpleZone(['ns\\027[31m.gone.test'], 'mx.evil.test')}mx A 192.0.2.28\n`);
  await run('named-checkzone', ['-i', 'local', '.', join(rDir, 'root.zone')]);
  // check-names ignore: evil.test's name server has an escape character in its name, on purpose
  const resolverConf = `${namedOptions(rDir, [`listen-on port ${port} { 127.0.0.1; };`, `listen-on port 53 { ${referralAddr}; ${refusedAddr}; };`, ...quiet], ['check-names primary ignore;'])}${logging(rDir)}
view "resolver" {
  match-destinations { 127.0.0.1; };
  zone "." { type primary; file "${rDir}/root.zone"; };
  zone "auth.test" { type primary; file "${rDir}/auth.zone"; };
  zone "good.test" { type primary; file "${rDir}/good.zone"; };
  zone "nowhere.test" { type primary; file "${rDir}/nowhere.zone"; };
  zone "evil.test" { type primary; file "${rDir}/evil.zone"; };
};
view "parent-only" {
  match-destinations { ${referralAddr}; };
  zone "." { type primary; file "${rDir}/parent.zone"; };
};
view "serves-nothing" {
  match-destinations { ${refusedAddr}; };
};
`;
  started.push(await startPrivateNamed({ dir: rDir, conf: resolverConf, port, probe: ['auth.test', 'MX'] }));
});

afterAll(async () => {
  for (const n of started) await n.stop();
  if (dir && !process.env.MXKEEP) rmSync(dir, { recursive: true, force: true });
});

describe('mx-check --authoritative against real named servers', () => {
  it('names the server that differs, the stale secondary and every lame entry', async () => {
    const { run: r, results } = await check('auth.test', 'good.test');
    const auth = results.get('auth.test');
    expect(auth?.verdict).toBe('fail');
    const nsList = 'ns1.lab.test, ns2.lab.test, ns3.lab.test, ns4.lab.test, ns5.lab.test, ns6.lab.test';
    expect(auth?.findings.map((f) => [f.code, f.record, f.detail])).toEqual([
      [
        'AUTH_LAME',
        'NS ns3.lab.test.',
        `ns3.lab.test (${referralAddr}) does not answer authoritatively for auth.test: a referral to auth.test (NS ${nsList}) instead of an answer to auth.test SOA`,
      ],
      [
        'AUTH_LAME',
        'NS ns4.lab.test.',
        `ns4.lab.test (${refusedAddr}) does not answer authoritatively for auth.test: REFUSED to auth.test SOA`,
      ],
      [
        'AUTH_LAME',
        'NS ns5.lab.test.',
        `ns5.lab.test (${closedAddr}) does not answer authoritatively for auth.test: nothing listens on port 53 (ICMP port unreachable to auth.test SOA)`,
      ],
      [
        'AUTH_LAME',
        'NS ns6.lab.test.',
        `ns6.lab.test (${deadAddr}) does not answer authoritatively for auth.test: no answer to auth.test SOA in 2 attempt(s) of 700 ms`,
      ],
      [
        'AUTH_DIFFER',
        null,
        `the authoritative servers give different MX sets for auth.test: ns1.lab.test (${primaryAddr}): 10 mx1.auth.test | ns2.lab.test (${secondaryAddr}): 10 mx-old.auth.test`,
      ],
      [
        'AUTH_STALE',
        'NS ns2.lab.test.',
        `ns2.lab.test (${secondaryAddr}) serves serial ${OLD_SERIAL} of auth.test, older than ${NEW_SERIAL} at ns1.lab.test (${primaryAddr})`,
      ],
    ]);
    expect(auth?.findings.every((f) => f.severity === 'fail')).toBe(true);
    expect(auth?.authoritative?.zone).toBe('auth.test');
    expect(auth?.authoritative?.servers.map((s) => [s.ns, s.address, s.lame?.how ?? null, s.serial, s.mx])).toEqual([
      ['ns1.lab.test', primaryAddr, null, NEW_SERIAL, ['10 mx1.auth.test']],
      ['ns2.lab.test', secondaryAddr, null, OLD_SERIAL, ['10 mx-old.auth.test']],
      ['ns3.lab.test', referralAddr, 'referral', null, null],
      ['ns4.lab.test', refusedAddr, 'refused', null, null],
      ['ns5.lab.test', closedAddr, 'unreachable', null, null],
      ['ns6.lab.test', deadAddr, 'timeout', null, null],
    ]);
    // a zone whose only server answers authoritatively and agrees with itself
    expect(results.get('good.test')).toMatchObject({
      verdict: 'ok',
      findings: [],
      authoritative: {
        zone: 'good.test',
        ns: ['ns1.lab.test'],
        servers: [{ ns: 'ns1.lab.test', address: primaryAddr, lame: null, serial: 1, rcode: 'NOERROR', mx: ['10 mx1.auth.test'] }],
        unresolvable: [],
      },
    });
    expect(r.code).toBe(1);
  });

  it('gives a delegation to nowhere its own finding and a verdict, and escapes names in the table', async () => {
    const { run: r, results } = await check('nowhere.test', 'evil.test');
    expect(results.get('nowhere.test')).toMatchObject({
      verdict: 'fail',
      findings: [
        {
          code: 'AUTH_NS_UNRESOLVABLE',
          record: 'NS ns1.gone.test.',
          detail:
            'ns1.gone.test has no address (NXDOMAIN): no resolver can ask it; no name server of nowhere.test resolves: a delegation to nowhere',
        },
        {
          code: 'AUTH_NS_UNRESOLVABLE',
          record: 'NS ns2.gone.test.',
          detail:
            'ns2.gone.test has no address (NXDOMAIN): no resolver can ask it; no name server of nowhere.test resolves: a delegation to nowhere',
        },
      ],
      authoritative: { zone: 'nowhere.test', servers: [] },
    });
    // JSON keeps the name exact
    expect(results.get('evil.test')?.authoritative?.unresolvable).toEqual([{ ns: 'ns\x1b[31m.gone.test', why: 'NXDOMAIN' }]);
    expect(r.code).toBe(1);

    const table = await mxCheck(['--authoritative', 'evil.test']);
    expect(table.stdout).not.toContain('\x1b');
    expect(table.stdout).toContain('    authoritative servers of evil.test:\n      ns\\x1b[31m.gone.test');
    expect(table.code).toBe(1);
  });

  it('lists each server in the table, and without --authoritative asks no authoritative server', async () => {
    const table = await mxCheck(['--authoritative', 'auth.test']);
    expect(table.stdout).toContain('    authoritative servers of auth.test:\n');
    expect(table.stdout).toContain(`      ${`ns1.lab.test (${primaryAddr})`.padEnd(40)} serial 0           MX 10 mx1.auth.test\n`);
    expect(table.stdout).toContain(`      ${`ns2.lab.test (${secondaryAddr})`.padEnd(40)} serial 4294967295  MX 10 mx-old.auth.test\n`);
    expect(table.stdout).toContain(`      ${`ns4.lab.test (${refusedAddr})`.padEnd(40)} lame: REFUSED to auth.test SOA\n`);
    expect(table.code).toBe(1);

    const plain = await mxCheck(['--json', 'auth.test']);
    expect(JSON.parse(plain.stdout) as unknown).toMatchObject({ domain: 'auth.test', verdict: 'ok', findings: [] });
    expect(plain.stdout).not.toContain('authoritative');
    expect(plain.code).toBe(0);
  });
});
