import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Answer } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostsFile, runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from './cli.js';
import { loopbackAliases, parseProcRoute } from './check/hosts.js';
import { runMxCheck } from './commands/mx-command.js';
import { startFakeDns, type FakeDns } from './testing/fake-dns.js';

async function run(...args: string[]) {
  const io = createMemoryIo();
  const exit = await runCli('mx-check', buildProgram, ['node', 'mx-check', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

const MX = (name: string, preference: number, exchange: string): Answer => ({ type: 'MX', name, ttl: 60, data: { preference, exchange } });
const A = (name: string, data: string): Answer => ({ type: 'A', name, ttl: 60, data });
const TXT = (name: string, data: string): Answer => ({ type: 'TXT', name, ttl: 60, data: [Buffer.from(data)] });

const ZONE: Record<string, Answer[]> = {
  'good.test': [MX('good.test', 10, 'mx.good.test')],
  'mx.good.test': [A('mx.good.test', '192.0.2.10')],
  'null.test': [MX('null.test', 0, ''), TXT('null.test', 'v=spf1 -all')],
  'sink.test': [MX('sink.test', 10, 'localhost')],
  'flaky.test': [MX('flaky.test', 10, 'mx.good.test')],
  'cname.test': [MX('cname.test', 10, 'alias.cname.test')],
  'alias.cname.test': [{ type: 'CNAME', name: 'alias.cname.test', ttl: 60, data: 'mx.good.test' }],
};

let dns: FakeDns;
let dir: string;
beforeAll(async () => {
  dns = await startFakeDns({ records: ZONE, behaviour: (n) => (n === 'flaky.test' ? 'servfail' : 'answer') });
  dir = mkdtempSync(join(tmpdir(), 'mx-check-cli-'));
});
afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

const resolver = () => ['--resolver', `127.0.0.1:${dns.port}`, '--timeout', '300ms', '--retries', '1', '--treat-as-global', '192.0.2.0/24'];

describe('mx-check cli', () => {
  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run('--help');
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: mx-check [options] [command] [domain...]');
    expect(r.out.replace(/\s+/g, ' ')).toContain(
      'Inspect domains MX records: null MX, MX to localhost or private addresses, broken forms.',
    );
    expect(r.out).toMatch(/Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error/);
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run('--no-such-option');
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("mx-check: unknown option '--no-such-option'");
  });

  it('prints one JSON object per domain in input order, with the documented fields', async () => {
    const r = await run(...resolver(), '--json', 'good.test', 'null.test', 'sink.test', 'cname.test');
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.domain, l.verdict])).toEqual([
      ['good.test', 'ok'],
      ['null.test', 'no_mail'],
      ['sink.test', 'fail'],
      ['cname.test', 'warn'],
    ]);
    expect(Object.keys(lines[0] ?? {})).toEqual(['domain', 'verdict', 'findings', 'mx', 'resolver', 'ms']);
    expect(lines[0]).toMatchObject({
      mx: [{ preference: 10, exchange: 'mx.good.test', addresses: ['192.0.2.10'], cname: [] }],
      resolver: `127.0.0.1:${dns.port}`,
    });
    expect(lines[2]?.findings).toEqual([
      {
        code: 'MX_LOCALHOST',
        severity: 'fail',
        record: 'MX 10 localhost.',
        detail: 'localhost is the local host (RFC 6761): senders deliver to themselves',
      },
    ]);
    expect(lines[3]).toMatchObject({ mx: [{ exchange: 'alias.cname.test', cname: ['mx.good.test'], addresses: ['192.0.2.10'] }] });
    expect(r.exit).toBe(1);
  });

  it('takes --timeout as a duration; a bare number is still milliseconds for this release, with a deprecation line', async () => {
    const old = await run(
      '--resolver',
      `127.0.0.1:${dns.port}`,
      '--timeout',
      '300',
      '--retries',
      '1',
      '--treat-as-global',
      '192.0.2.0/24',
      'good.test',
    );
    expect(old.err).toBe('mx-check: warning: --timeout 300 without a unit is deprecated and read as 300ms; write --timeout 300ms\n');
    expect(old.exit).toBe(0);
    const bad = await run('--timeout', '2 seconds', 'good.test');
    expect(bad.err.split('\n')[0]).toBe(
      "mx-check: option '--timeout <duration>' argument '2 seconds' is invalid. '2 seconds' is not a duration: a whole number and a unit (500ms, 5s, 15m, 6h, 2d).",
    );
    expect(bad.exit).toBe(2);
  });

  it('exits 0 when nothing reaches --fail-on, 1 on warn with --fail-on warn', async () => {
    expect((await run(...resolver(), 'good.test', 'null.test', 'cname.test')).exit).toBe(0);
    expect((await run(...resolver(), '--fail-on', 'warn', 'good.test', 'cname.test')).exit).toBe(1);
    expect((await run(...resolver(), '--fail-on', 'warn', 'good.test', 'null.test')).exit).toBe(0);
  });

  it('prints a table with the findings under each domain and a summary', async () => {
    const r = await run(...resolver(), 'good.test', 'sink.test', 'flaky.test');
    expect(r.out.split('\n')[0]).toBe(`${'DOMAIN'.padEnd(32)} VERDICT  MX`);
    expect(r.out).toContain(`${'good.test'.padEnd(32)} ok       10 mx.good.test (192.0.2.10)\n`);
    expect(r.out).toContain(
      `${'sink.test'.padEnd(32)} fail     10 localhost\n    fail MX_LOCALHOST [MX 10 localhost.]: localhost is the local host`,
    );
    expect(r.out).toMatch(/flaky\.test +error +-\n {4}fail LOOKUP_FAILED: MX lookup: SERVFAIL from 127\.0\.0\.1:\d+\n/);
    expect(r.out).toMatch(/\n3 domain\(s\): 1 ok, 0 warn, 0 no_mail, 1 fail, 1 error in \d+\.\d\ds\n$/);
    expect(r.exit).toBe(1);
  });

  it('bad input: a message per bad name, the others still checked, duplicates once', async () => {
    const list = join(dir, 'list.txt');
    writeFileSync(
      list,
      `good.test\n\n# comment\nGOOD.test.\nbad name.test\n${'a'.repeat(64)}.test\n192.0.2.1\n${'abcdefghi.'.repeat(30)}test\n`,
    );
    const r = await run(...resolver(), '--json', '--file', list);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { domain: string; verdict: string; findings: { code: string; detail: string }[] });
    expect(lines.map((l) => [l.domain.slice(0, 20), l.verdict, l.findings[0]?.code ?? null])).toEqual([
      ['good.test', 'ok', null],
      ['bad name.test', 'error', 'INVALID_NAME'],
      ['aaaaaaaaaaaaaaaaaaaa', 'error', 'INVALID_NAME'],
      ['192.0.2.1', 'error', 'INVALID_NAME'],
      ['abcdefghi.abcdefghi.', 'error', 'INVALID_NAME'],
    ]);
    expect(r.err.split('\n')).toEqual([
      'mx-check: good.test given 2 times: checked once',
      "mx-check: 'bad name.test' is not a domain: contains white space",
      `mx-check: '${'a'.repeat(64)}.test' is not a domain: has a label of 64 characters (at most 63)`,
      "mx-check: '192.0.2.1' is not a domain: is an IP address, not a domain",
      `mx-check: '${'abcdefghi.'.repeat(30)}test' is not a domain: is 304 characters long (at most 253)`,
      '',
    ]);
    expect(r.exit).toBe(1);
  });

  it('an empty list is a usage error', async () => {
    const list = join(dir, 'empty.txt');
    writeFileSync(list, '\n# nothing\n\n');
    const r = await run(...resolver(), '--file', list);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`mx-check: no domains to check: give DOMAIN arguments or --file LIST (${list} had none)\n`);
  });

  it('a bad --resolver or --treat-as-global is one line and exit 2', async () => {
    expect(await run('--resolver', 'ns1.example.com', 'good.test')).toMatchObject({
      exit: 2,
      err: "mx-check: --resolver 'ns1.example.com' is not IP[:PORT] (an IPv6 address with a port is written [::1]:5353)\n",
    });
    expect(await run('--resolver', '127.0.0.1', '--treat-as-global', 'x/8', 'good.test')).toMatchObject({
      exit: 2,
      err: "mx-check: --treat-as-global 'x/8' is not a CIDR range (192.0.2.0/24, 2001:db8::/32)\n",
    });
  });

  it('takes resolvers from a resolv.conf when none is given, and says when it has none', async () => {
    // never a real resolv.conf with a server: a resolver on port 53 could forward off the machine
    const conf = join(dir, 'resolv.conf');
    writeFileSync(conf, 'search example.com\n');
    expect(await run('--resolv-conf', conf, 'good.test')).toMatchObject({
      exit: 2,
      err: `mx-check: ${conf} has no nameserver line; give --resolver IP[:PORT]\n`,
    });
    const missing = join(dir, 'nope.conf');
    expect(await run('--resolv-conf', missing, 'good.test')).toMatchObject({
      exit: 2,
      err: `mx-check: cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'; give --resolver IP[:PORT]\n`,
    });
  });

  it('a resolver that never answers gives error verdicts and exit 2', async () => {
    const silent = await startFakeDns({ records: {}, behaviour: () => 'silent' });
    try {
      const t0 = Date.now();
      const r = await run(
        '--resolver',
        `127.0.0.1:${silent.port}`,
        '--timeout',
        '100ms',
        '--retries',
        '1',
        '--json',
        '--concurrency',
        '2',
        'a.test',
        'b.test',
        'c.test',
        'd.test',
        'e.test',
      );
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(
        r.out
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { verdict: string }).verdict),
      ).toEqual(['error', 'error', 'error', 'error', 'error']);
      expect(r.err).toMatch(/^mx-check: no resolver answered \(127\.0\.0\.1:\d+: \d+ queries timed out\)\n$/);
      expect(r.exit).toBe(2);
    } finally {
      await silent.close();
    }
  });

  it('two resolvers with different records: VIEWS_DIFFER', async () => {
    const other = await startFakeDns({ records: { ...ZONE, 'good.test': [MX('good.test', 10, 'localhost')] } });
    try {
      const r = await run(...resolver(), '--resolver', `127.0.0.1:${other.port}`, '--json', 'good.test', 'null.test');
      const [good, nul] = r.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { verdict: string; findings: { code: string; detail: string }[]; views: unknown[] });
      expect(good?.verdict).toBe('warn');
      expect(good?.findings[0]?.code).toBe('VIEWS_DIFFER');
      expect(good?.findings[0]?.detail).toContain(`127.0.0.1:${other.port}: fail, MX 10 localhost. []`);
      expect(good?.views).toHaveLength(2);
      expect(nul?.findings.map((f) => f.code)).toEqual(['NULL_MX']);
    } finally {
      await other.close();
    }
  });

  it('--resolution system takes exchange addresses from getaddrinfo (a hosts alias counts)', async () => {
    const io = createMemoryIo();
    await runMxCheck(
      ['good.test'],
      {
        resolver: [`127.0.0.1:${dns.port}`],
        resolvConf: '',
        resolution: 'system',
        json: true,
        concurrency: 4,
        timeout: 300,
        retries: 0,
        failOn: 'fail',
        treatAsGlobal: ['192.0.2.0/24'],
      },
      io,
      { systemLookup: (n) => Promise.resolve(n === 'mx.good.test' ? [{ address: '127.0.0.1' }] : []) },
    );
    expect(JSON.parse(io.out()) as unknown).toMatchObject({
      verdict: 'fail',
      findings: [{ code: 'MX_LOCALHOST', detail: 'mx.good.test has address 127.0.0.1 (loopback)' }],
    });
    expect(io.exitCode()).toBe(1);
  });

  it('suggest --no-mail prints the standard records and explains the legacy form', async () => {
    const r = await run('suggest', 'Example.COM', '--no-mail');
    expect(r.exit).toBe(0);
    expect(r.out).toContain('example.com.               IN MX  0 .  ; RFC 7505 null MX');
    expect(r.out).toContain('IN TXT "v=spf1 -all"');
    expect(r.out).toContain('_dmarc.example.com.        IN TXT "v=DMARC1; p=reject;"');
    expect(r.out).toContain('Not this: "example.com. IN MX 10 localhost." — the legacy trick.');
    expect(await run('suggest', 'example.com')).toMatchObject({
      exit: 2,
      err: 'mx-check: suggest needs --no-mail (the only suggestion there is so far)\n',
    });
    expect(await run('suggest', 'not a domain', '--no-mail')).toMatchObject({
      exit: 2,
      err: "mx-check: 'not a domain' is not a domain: contains white space\n",
    });
  });

  it('hosts lists loopback aliases and warns about the machine name', async () => {
    const hosts = join(dir, 'hosts');
    writeFileSync(
      hosts,
      `127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 spam-sink.example.com # sink\n127.0.1.1 ${hostname()}\n192.0.2.9 real.example.com\n`,
    );
    const conf = join(dir, 'resolv-hosts.conf');
    writeFileSync(conf, 'nameserver 127.0.0.1\n');
    const r = await run('hosts', '--hosts-file', hosts, '--resolv-conf', conf);
    expect(r.out).toContain('3     127.0.0.1         spam-sink.example.com\n');
    expect(r.out).toContain(
      `4     127.0.1.1         ${hostname().toLowerCase()}\n      warning: ${hostname().toLowerCase()} is this machine's own name`,
    );
    expect(r.out).not.toContain('ip6-localhost');
    expect(r.exit).toBe(1);
  });
});

describe('hosts rules', () => {
  it('warns when an alias is the gateway, a name server or a search domain', () => {
    const lines = parseHostsFile('10.0.0.1 gw.lan\n127.0.0.1 gw.lan ns.lan lan mail.example.com\n10.0.0.53 ns.lan\n');
    const got = loopbackAliases(lines, { hostname: 'box', gateways: ['10.0.0.1'], nameservers: ['10.0.0.53'], searchDomains: ['lan'] });
    expect(got.map((a) => [a.name, a.warnings.length])).toEqual([
      ['gw.lan', 1],
      ['ns.lan', 1],
      ['lan', 1],
      ['mail.example.com', 0],
    ]);
    expect(got[0]?.warnings[0]).toBe("gw.lan is the default gateway's name (10.0.0.1): connections to it would stay on this machine");
  });
  // the name-server address was compared as text with the hosts file's: another spelling missed it
  it('finds the name server however its address is spelled', () => {
    const lines = parseHostsFile('2001:DB8:0::53 ns.lan\n::1 ns.lan\n');
    const got = loopbackAliases(lines, { hostname: 'box', gateways: [], nameservers: ['2001:db8::53'], searchDomains: [] });
    expect(got).toEqual([
      { name: 'ns.lan', address: '::1', line: 2, warnings: ['ns.lan is the name of a name server in resolv.conf (2001:db8::53)'] },
    ]);
  });
  it('reads the default gateway from /proc/net/route', () => {
    const text = 'Iface\tDestination\tGateway \tFlags\neth0\t00000000\t0100000A\t0003\neth0\t0000000A\t00000000\t0001\n';
    expect(parseProcRoute(text)).toEqual(['10.0.0.1']);
  });
});
