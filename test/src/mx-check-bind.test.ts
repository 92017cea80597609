/**
 * mx-check against a real BIND: a private named, authoritative for the root zone so that every
 * test name (and every name that does not exist) is answered on loopback, serves one domain per
 * finding code and verdict. The built CLI is run as a user would run it.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, namedOptions, startPrivateNamed, type PrivateNamed } from './private-named.js';

const run = promisify(execFile);
const MXCHECK = fileURLToPath(new URL('../../apps/mx-check/bin/mx-check.js', import.meta.url));

let dir: string;
let port: number;
let named: PrivateNamed | undefined;

const BIG = Array.from({ length: 90 }, (_, i) => `big.test. MX ${i} mx${i}.big.test.`).join('\n');

const ROOT_ZONE = `$TTL 300
@ IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 86400 300
@ IN NS ns1.lab.test.
ns1.lab.test. A 127.0.0.1
ok.test. MX 10 mx.ok.test.
mx.ok.test. A 192.0.2.10
mx.ok.test. AAAA 2001:db8::10
nullmx.test. MX 0 .
nullmx.test. TXT "v=spf1 -all"
nullspf.test. MX 0 .
nullspf.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"
nullmixed.test. MX 0 .
nullmixed.test. MX 10 mx.ok.test.
nullpref.test. MX 10 .
lo-name.test. MX 10 localhost.
lo-a.test. MX 10 mx.lo-a.test.
mx.lo-a.test. A 127.0.0.2
lo-6.test. MX 10 mx.lo-6.test.
mx.lo-6.test. AAAA ::1
lo-mapped.test. MX 10 mx.lo-mapped.test.
mx.lo-mapped.test. AAAA ::ffff:127.0.0.1
lo-discard.test. MX 10 localhost.
lo-discard.test. MX 20 mx.ok.test.
lo-backup.test. MX 5 mx.ok.test.
lo-backup.test. MX 10 localhost.
private.test. MX 10 mx.private.test.
mx.private.test. A 10.1.2.3
mx.private.test. AAAA fd00::25
unroutable.test. MX 10 mx.unroutable.test.
mx.unroutable.test. A 240.0.0.1
cname.test. MX 10 alias.cname.test.
alias.cname.test. CNAME mx.ok.test.
cnamelo.test. MX 10 a.cnamelo.test.
a.cnamelo.test. CNAME b.cnamelo.test.
b.cnamelo.test. CNAME localhost.
cnamelo2.test. MX 10 a.cnamelo2.test.
a.cnamelo2.test. CNAME b.cnamelo2.test.
b.cnamelo2.test. A 127.0.0.1
literal.test. MX 10 192.0.2.1.
nxex.test. MX 10 nope.nxex.test.
nodata.test. MX 10 mx.nodata.test.
mx.nodata.test. TXT "no address here"
dangling.test. MX 10 mx.gone-away.test.
special.test. MX 10 mx.broken.invalid.
trail.test. MX 10 mx.trail.test.trail.test.
dup.test. MX 10 mx.ok.test.
dup.test. MX 20 MX.OK.TEST.
implicit.test. A 192.0.2.20
nomail.test. TXT "nothing here"
sysalias.test. MX 10 mail.sysalias.test.
mail.sysalias.test. A 192.0.2.40
${BIG}
*.big.test. A 192.0.2.30
`;

function conf(): string {
  return `
${namedOptions(dir, [`listen-on port ${port} { 127.0.0.1; };`, `listen-on-v6 port ${port} { ::1; };`], ['minimal-responses no;'])}logging { channel g { file "${dir}/named.log"; severity info; }; category default { g; }; };
zone "." { type primary; file "${dir}/root.zone"; };
zone "broken.test" { type primary; file "${dir}/broken.zone"; };
`;
}

interface Result {
  domain: string;
  verdict: string;
  findings: { code: string; severity: string; record: string | null; detail: string }[];
  mx: { preference: number; exchange: string; addresses: string[]; cname: string[] }[];
  resolver: string;
  ms: number;
}

const mxCheck = (args: string[]): Promise<ToolRun> => runTool('mx-check', args, { timeoutMs: 30_000 });

const common = () => [
  '--resolver',
  `127.0.0.1:${port}`,
  '--treat-as-global',
  '192.0.2.0/24',
  '--treat-as-global',
  '2001:db8::/32',
  '--timeout',
  '1s',
  '--retries',
  '1',
];

async function check(...domains: string[]): Promise<Map<string, Result>> {
  const r = await mxCheck([...common(), '--json', ...domains]);
  return new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Result & { domain: string })
      .map((x) => [x.domain, x]),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mx-check-named-'));
  port = await freePort();
  writeFileSync(join(dir, 'root.zone'), ROOT_ZONE);
  // a zone named cannot load: BIND answers SERVFAIL for it
  writeFileSync(join(dir, 'broken.zone'), '$TTL 300\n@ IN SOA ns1 hostmaster ( 1 3600\n');
  await run('named-checkzone', ['-i', 'local', '.', join(dir, 'root.zone')]);
  named = await startPrivateNamed({ dir, conf: conf(), port, probe: ['ok.test', 'MX'] });
});

afterAll(async () => {
  await named?.stop();
  if (!process.env.MXKEEP) rmSync(dir, { recursive: true, force: true });
});

describe('mx-check against a real named', () => {
  it('gives every verdict and code its zone was written for', async () => {
    const expected: Record<string, [string, string[]]> = {
      'ok.test': ['ok', []],
      'nullmx.test': ['no_mail', ['NULL_MX']],
      'nullspf.test': ['no_mail', ['NULL_MX', 'NULL_MX_SENDER_CONFLICT']],
      'nullmixed.test': ['fail', ['NULL_MX_INVALID']],
      'nullpref.test': ['fail', ['NULL_MX_INVALID']],
      'lo-name.test': ['fail', ['MX_LOCALHOST']],
      'lo-a.test': ['fail', ['MX_LOCALHOST']],
      'lo-6.test': ['fail', ['MX_LOCALHOST']],
      'lo-mapped.test': ['fail', ['MX_LOCALHOST']],
      'lo-discard.test': ['fail', ['MX_LOCALHOST']],
      'lo-backup.test': ['warn', ['MX_LOCALHOST']],
      'private.test': ['fail', ['MX_PRIVATE', 'MX_PRIVATE']],
      'unroutable.test': ['fail', ['MX_UNROUTABLE']],
      'cname.test': ['warn', ['MX_CNAME']],
      'cnamelo.test': ['fail', ['MX_CNAME', 'MX_LOCALHOST']],
      'cnamelo2.test': ['fail', ['MX_CNAME', 'MX_LOCALHOST']],
      'literal.test': ['fail', ['MX_IP_LITERAL']],
      'nxex.test': ['fail', ['MX_UNRESOLVABLE']],
      'nodata.test': ['fail', ['MX_UNRESOLVABLE']],
      'dangling.test': ['fail', ['MX_UNRESOLVABLE', 'MX_DANGLING']],
      'special.test': ['fail', ['MX_SPECIAL_USE', 'MX_UNRESOLVABLE']],
      'trail.test': ['fail', ['MX_TRAILING_DOT', 'MX_UNRESOLVABLE']],
      'dup.test': ['warn', ['MX_DUPLICATE_HOST']],
      'implicit.test': ['warn', ['IMPLICIT_MX']],
      'nomail.test': ['fail', ['NO_MAIL']],
      'missing.test': ['fail', ['DOMAIN_NXDOMAIN']],
      'www.broken.test': ['error', ['LOOKUP_FAILED']],
    };
    const got = await check(...Object.keys(expected));
    const summary = Object.fromEntries([...got].map(([d, r]) => [d, [r.verdict, r.findings.map((f) => f.code)]]));
    expect(summary).toEqual(expected);
    expect(got.get('ok.test')?.mx).toEqual([
      { preference: 10, exchange: 'mx.ok.test', addresses: ['192.0.2.10', '2001:db8::10'], cname: [] },
    ]);
    expect(got.get('cnamelo.test')?.mx[0]?.cname).toEqual(['b.cnamelo.test', 'localhost']);
    expect(got.get('lo-mapped.test')?.findings[0]?.detail).toBe('mx.lo-mapped.test has address ::ffff:7f00:1 (IPv4-mapped loopback)');
    expect(got.get('dangling.test')?.findings[1]?.detail).toBe(
      "the exchange's registrable domain gone-away.test does not exist: whoever registers it receives the mail",
    );
    expect(got.get('www.broken.test')?.findings[0]?.detail).toBe(`MX lookup: SERVFAIL from 127.0.0.1:${port}`);
    expect(got.get('nullspf.test')?.findings[1]).toMatchObject({ severity: 'warn', record: 'TXT "v=spf1 ip4:192.0.2.0/24 -all"' });
  });

  it('falls back to TCP for a large RRset and checks every target', async () => {
    const got = await check('big.test');
    const big = got.get('big.test');
    expect(big?.verdict).toBe('ok');
    expect(big?.mx).toHaveLength(90);
    expect(big?.mx[89]).toEqual({ preference: 89, exchange: 'mx89.big.test', addresses: ['192.0.2.30'], cname: [] });
  });

  it('asks over IPv6 too', async () => {
    const r = await mxCheck([
      '--resolver',
      `[::1]:${port}`,
      '--treat-as-global',
      '192.0.2.0/24',
      '--treat-as-global',
      '2001:db8::/32',
      '--json',
      'ok.test',
    ]);
    expect(JSON.parse(r.stdout) as unknown).toMatchObject({ domain: 'ok.test', verdict: 'ok', resolver: `[::1]:${port}` });
    expect(r.code).toBe(0);
  });

  it('documentation addresses without --treat-as-global are not usable targets', async () => {
    const r = await mxCheck(['--resolver', `127.0.0.1:${port}`, '--json', 'ok.test']);
    expect(JSON.parse(r.stdout) as unknown).toMatchObject({
      verdict: 'fail',
      findings: [{ code: 'MX_UNROUTABLE' }, { code: 'MX_UNROUTABLE' }],
    });
    expect(r.code).toBe(1);
  });

  it('exit codes: 0 under --fail-on, 1 when reached; the table lists findings', async () => {
    expect((await mxCheck([...common(), 'ok.test', 'nullmx.test', 'cname.test'])).code).toBe(0);
    expect((await mxCheck([...common(), '--fail-on', 'warn', 'ok.test', 'cname.test'])).code).toBe(1);
    const r = await mxCheck([...common(), 'ok.test', 'lo-a.test']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'lo-a.test                        fail     10 mx.lo-a.test (127.0.0.2)\n    fail MX_LOCALHOST [MX 10 mx.lo-a.test.]: mx.lo-a.test has address 127.0.0.2 (loopback)\n',
    );
  });

  it('reads a list from stdin with duplicates, blanks and bad names', async () => {
    const child = spawn(process.execPath, [MXCHECK, ...common(), '--json', '--file', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end('ok.test\n\nOK.TEST.\nnot a domain\nlo-name.test\n');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Result).verdict),
    ).toEqual(['ok', 'error', 'fail']);
    expect(err).toBe("mx-check: ok.test given 2 times: checked once\nmx-check: 'not a domain' is not a domain: contains white space\n");
    expect(code).toBe(1);
  });

  it('--resolution system: a hosts-file alias to loopback counts (private mount namespace)', async () => {
    const hosts = join(dir, 'hosts');
    const nss = join(dir, 'nsswitch.conf');
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.0.1 mail.sysalias.test\n192.0.2.10 mx.ok.test\n');
    // files only: getaddrinfo never asks DNS, so nothing leaves the machine
    writeFileSync(nss, 'hosts: files\n');
    writeFileSync(resolv, 'nameserver 127.0.0.1\n');
    const script =
      'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && mount --bind "$3" /etc/resolv.conf && shift 3 && exec "$@"';
    const args = [...common(), '--resolution', 'system', '--json', 'sysalias.test', 'ok.test'];
    const { stdout } = await run('unshare', ['-m', 'sh', '-c', script, 'sh', hosts, nss, resolv, process.execPath, MXCHECK, ...args], {
      timeout: 30_000,
    }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    const got = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Result);
    expect(got[0]).toMatchObject({
      domain: 'sysalias.test',
      verdict: 'fail',
      findings: [{ code: 'MX_LOCALHOST', detail: 'mail.sysalias.test has address 127.0.0.1 (loopback)' }],
    });
    expect(got[1]).toMatchObject({ domain: 'ok.test', verdict: 'ok', mx: [{ addresses: ['192.0.2.10'] }] });
    // and the same domain through DNS alone takes mail
    expect((await check('sysalias.test')).get('sysalias.test')?.verdict).toBe('ok');
  });
});
