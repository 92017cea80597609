import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from './cli.js';
import { startNotSmtp, startScriptedMta, type ScriptedMta } from './testing/scripted-mta.js';

async function run(...args: string[]) {
  const io = createMemoryIo({ RELAY_AUDIT_PASSWORD: 'pw' });
  // hermetic: the submission-port sweep only where a test injects its own ports
  const sweep = args[0] === 'probe' && !args.includes('--submission-ports') ? ['--submission-ports', 'none'] : [];
  const exit = await runCli('relay-audit', buildProgram, ['node', 'relay-audit', ...args, ...sweep], io);
  return { exit, out: io.out(), err: io.err() };
}

interface Report {
  target: string;
  verdict: string;
  vantages: {
    vantage: string;
    seen_as: { address: string | null } | null;
    verdict: string;
    error?: string;
    ports: { port: number; tls: string; status: string; note?: string }[];
    probes: {
      id: string;
      port: number;
      ehlo: string;
      mail_from: string;
      rcpt_to: string;
      code: number | null;
      text: string;
      class: string;
      stage: string;
    }[];
  }[];
  changes?: { newlyOpen: string[]; closedSince: string[]; changed: boolean };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function mta(...a: Parameters<typeof startScriptedMta>): Promise<ScriptedMta> {
  const m = await startScriptedMta(...a);
  cleanups.push(() => m.close());
  return m;
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'relay-audit-unit-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const denyExternal = (rcpt: string) => (rcpt.toLowerCase() === 'postmaster' ? null : { code: 550, message: '5.7.1 Relaying denied' });

describe('relay-audit cli', () => {
  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run('--help');
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: relay-audit [options] [command]');
    expect(r.out.replace(/\s+/g, ' ')).toContain('Find open mail relays: probe an MTA from many vantage hosts and audit sendmail config.');
    expect(r.out).toMatch(
      /Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error\n {2}3 {3}probe: no relay found/,
    );
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run('--no-such-option');
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("relay-audit: unknown option '--no-such-option'");
  });

  it.each([
    [
      ['probe', '--target', '127.0.0.1'],
      'relay-audit: --ext-domain is required: name an external domain you own or a reserved one (relay-check.example, anything under .test)',
    ],
    [
      ['probe', '--target', '127.0.0.1', '--ext-domain', 'gmail.com'],
      "relay-audit: --ext-domain 'gmail.com' is not reserved (.test, .example, .invalid): without --deliver the probes name only reserved domains, so no third party is ever addressed",
    ],
    [
      ['probe', '--target', 'mx.example.com', '--ext-domain', 'x.test'],
      "relay-audit: --target 'mx.example.com': give the MTA's IP address (the probe never resolves names, so it cannot reach a host you did not name)",
    ],
    [
      ['probe', '--target', '127.0.0.1:99999', '--ext-domain', 'x.test'],
      "relay-audit: --target '127.0.0.1:99999': port 99999 is out of range 1..65535",
    ],
    [
      ['probe', '--target', '127.0.0.1', '--ext-domain', 'x.test', '--vantage', 'http://h'],
      "relay-audit: --vantage 'http://h' is not ssh://[user@]host[:port]",
    ],
    [
      ['probe', '--target', '127.0.0.1', '--ext-domain', 'x.test', '--source-ip', 'nope'],
      "relay-audit: --source-ip 'nope' is not an IP address",
    ],
    [
      ['probe', '--target', '127.0.0.1', '--ext-domain', 'x.test', '--tests', 'zzz'],
      "relay-audit: --tests 'zzz' selects no probe (ids look like nmap-01, from-localhost, ehlo-localhost/nmap-01)",
    ],
    [
      ['probe', '--target', '127.0.0.1', '--ext-domain', 'x.test', '--alert-to', 'a@b.test'],
      'relay-audit: --alert-to needs --smtp smtp://host:port to send through',
    ],
  ])('bad input %j is one line and exit 2', async (args, line) => {
    const r = await run(...args);
    expect(r.err).toBe(`${line}\n`);
    expect(r.exit).toBe(2);
  });
});

describe('relay-audit probe against a scripted MTA', () => {
  it('closed: every probe refused, JSON shape, exit 0', async () => {
    const m = await mta(denyExternal);
    const r = await run('probe', '--target', `127.0.0.1:${m.port}`, '--ext-domain', 'relay-check.example', '--json');
    const report = JSON.parse(r.out) as Report;
    expect(r.err).toBe('');
    expect(report.target).toBe(`127.0.0.1:${m.port}`);
    expect(report.verdict).toBe('closed');
    const v = report.vantages[0];
    expect(v?.vantage).toBe('local');
    expect(v?.seen_as?.address).toBe('127.0.0.1');
    expect(v?.probes.find((p) => p.id === 'nmap-01')).toEqual({
      id: 'nmap-01',
      port: m.port,
      ehlo: 'relay-audit.test',
      mail_from: '',
      rcpt_to: 'relaytest@relay-check.example',
      stage: 'RCPT',
      code: 550,
      text: '550 5.7.1 Relaying denied',
      class: 'DENIED',
    });
    // the form smtp-server cannot parse is a protocol error, not a refusal of relaying
    expect(v?.probes.find((p) => p.id === 'nmap-09')?.class).toBe('PROTOCOL_ERROR');
    expect(new Set(v?.probes.map((p) => p.class))).toEqual(new Set(['DENIED', 'PROTOCOL_ERROR']));
    expect(r.exit).toBe(0);
  });

  it('open: an accepted external recipient is exit 1, and nothing is sent without --deliver', async () => {
    const m = await mta(() => null);
    const r = await run('probe', '--target', `127.0.0.1:${m.port}`, '--ext-domain', 'relay-check.example', '--tests', 'nmap-0*');
    expect(r.out).toMatch(
      /^target 127\.0\.0\.1:\d+: open\n {2}vantage local: open, seen as \? \[127\.0\.0\.1\]\n {4}9 probes: ACCEPTED_RCPT 6, PROTOCOL_ERROR 3\n {4}OPEN nmap-01: EHLO relay-audit\.test MAIL FROM:<> RCPT TO:<relaytest@relay-check\.example> → 250 Accepted\n/,
    );
    expect(m.messages).toEqual([]);
    expect(r.exit).toBe(1);
  });

  it('--per-connection sends several probes on one connection with RSET between; the default is one each', async () => {
    const m = await mta(denyExternal);
    const shared = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-0*',
      '--per-connection',
      '5',
      '--json',
    );
    expect((JSON.parse(shared.out) as Report).vantages[0]?.probes.map((p) => p.class)).toEqual(
      Array.from({ length: 9 }, (_, i) => (i >= 6 ? 'PROTOCOL_ERROR' : 'DENIED')),
    );
    expect(m.connections()).toBe(1 + 2); // the greeting session, then 5 + 4 probes
    await run('probe', '--target', `127.0.0.1:${m.port}`, '--ext-domain', 'relay-check.example', '--tests', 'nmap-0*');
    expect(m.connections()).toBe(3 + 1 + 9);
  });

  it('an MTA that wants AUTH: NEEDS_AUTH without it; with --auth (password from the environment) the relay shows', async () => {
    const m = await mta(() => null, { auth: { user: 'audit', password: 'pw' } });
    const without = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--json',
    );
    expect((JSON.parse(without.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'MAIL', code: 530, class: 'NEEDS_AUTH' });
    expect(without.exit).toBe(0);
    // the password goes only inside TLS (smtp-server's own certificate: --tls-insecure; probe-command.test.ts verifies)
    const withAuth = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--auth',
      'audit',
      '--starttls',
      '--tls-insecure',
      '--json',
    );
    expect((JSON.parse(withAuth.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'RCPT', code: 250, class: 'ACCEPTED_RCPT' });
    expect(withAuth.exit).toBe(1);
  });

  it('an MTA that wants TLS: NEEDS_TLS without it; --starttls upgrades and probes inside TLS', async () => {
    const m = await mta(() => null, { requireTls: true });
    const plain = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--json',
    );
    expect((JSON.parse(plain.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'MAIL', code: 530, class: 'NEEDS_TLS' });
    const tls = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--starttls',
      '--json',
    );
    expect((JSON.parse(tls.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'RCPT', code: 250, class: 'ACCEPTED_RCPT' });
    expect(tls.exit).toBe(1);
  });

  it('--deliver sends one marked message per accepted probe and records the end-of-data reply', async () => {
    const m = await mta(() => null);
    const r = await run('probe', '--target', `127.0.0.1:${m.port}`, '--deliver', 'me@mine.test', '--tests', 'nmap-02', '--json');
    const p = (JSON.parse(r.out) as Report).vantages[0]?.probes[0];
    expect(p).toMatchObject({ id: 'nmap-02', rcpt_to: 'me@mine.test', class: 'ACCEPTED_DATA', stage: 'DATA' });
    expect(m.messages).toHaveLength(1);
    expect(m.messages[0]).toContain('X-Relay-Audit: test');
    expect(m.messages[0]).toContain('Subject: relay-audit test message (nmap-02 from local)');
  });

  it('a server that drops mid-dialogue: CONN_LOST at RCPT, verdict inconclusive, exit 3', async () => {
    // lock-step, so the MAIL answer comes before the RCPT that the server drops on
    const m = await mta(() => null, { dropOnRcpt: true, pipelining: false });
    // --tests repeated is the same list as comma-separated (the one convention for lists)
    const r = await run(
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--tests',
      'nmap-02',
      '--json',
    );
    const report = JSON.parse(r.out) as Report;
    expect(report.vantages[0]?.probes.map((p) => [p.id, p.stage, p.class])).toEqual([
      ['nmap-01', 'RCPT', 'CONN_LOST'],
      ['nmap-02', 'RCPT', 'CONN_LOST'],
    ]);
    expect(report.verdict).toBe('inconclusive');
    expect(r.exit).toBe(3);
  });

  it('pipelines MAIL, RCPT and QUIT in one write where PIPELINING is advertised, and waits for each answer where not', async () => {
    const piped = await mta(denyExternal);
    const r = await run(
      'probe',
      '--target',
      `127.0.0.1:${piped.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01,local-first',
      '--json',
    );
    expect((JSON.parse(r.out) as Report).vantages[0]?.probes.map((p) => [p.id, p.stage, p.code])).toEqual([
      ['nmap-01', 'RCPT', 550],
      ['local-first', 'RCPT', 550],
    ]);
    const readOf = (m: ScriptedMta, prefix: string) => m.lines.filter((l) => l.line.startsWith(prefix)).map((l) => l.read);
    const [mail1, mail2] = readOf(piped, 'MAIL FROM');
    // the last probe's group: MAIL, both RCPTs of local-first, QUIT, in one read
    expect(piped.lines.filter((l) => l.read === mail2).map((l) => l.line.split(':')[0])).toEqual([
      'MAIL FROM',
      'RCPT TO',
      'RCPT TO',
      'QUIT',
    ]);
    expect(piped.lines.filter((l) => l.read === mail1).map((l) => l.line.split(':')[0])).toEqual(['MAIL FROM', 'RCPT TO', 'QUIT']);
    expect(readOf(piped, 'EHLO').some((n) => n === mail1 || n === mail2)).toBe(false);

    const lockStep = await mta(denyExternal, { pipelining: false });
    const l = await run(
      'probe',
      '--target',
      `127.0.0.1:${lockStep.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--json',
    );
    expect((JSON.parse(l.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'RCPT', code: 550, class: 'DENIED' });
    const reads = ['MAIL FROM', 'RCPT TO', 'QUIT'].map((c) => readOf(lockStep, c).at(-1));
    expect(new Set(reads).size).toBe(3);
  });

  it('sweeps the submission ports: each probe names its port, implicit TLS on /tls, a closed port is noted and not an error', async () => {
    const target = await mta(denyExternal);
    const submission = await mta(() => null);
    const implicit = await mta(() => null, { implicitTls: true });
    const gone = net.createServer();
    await new Promise<void>((res) => gone.listen(0, '127.0.0.1', res));
    const closedPort = (gone.address() as net.AddressInfo).port;
    await new Promise((res) => gone.close(res));
    const dir = tmp();
    const args = [
      'probe',
      '--target',
      `127.0.0.1:${target.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01,nmap-02',
      '--submission-ports',
      `${submission.port},${implicit.port}/tls,${closedPort}`,
    ];
    const r = await run(...args, '--json', '--state', join(dir, 'state.json'));
    expect(r.err).toBe('');
    const report = JSON.parse(r.out) as Report & { port: number };
    expect(report.port).toBe(target.port);
    const v = report.vantages[0];
    expect(v?.ports.map(({ port, tls, status }) => [port, tls, status])).toEqual([
      [target.port, 'none', 'probed'],
      [submission.port, 'none', 'probed'],
      [implicit.port, 'implicit', 'probed'],
      [closedPort, 'none', 'closed'],
    ]);
    expect(v?.ports[3]?.note).toMatch(new RegExp(`^127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
    expect(v?.probes.map((p) => [p.port, p.id, p.class])).toEqual([
      [target.port, 'nmap-01', 'DENIED'],
      [target.port, 'nmap-02', 'DENIED'],
      [submission.port, 'nmap-01', 'ACCEPTED_RCPT'],
      [submission.port, 'nmap-02', 'ACCEPTED_RCPT'],
      [implicit.port, 'nmap-01', 'ACCEPTED_RCPT'],
      [implicit.port, 'nmap-02', 'ACCEPTED_RCPT'],
    ]);
    // the relay on the submission ports is what makes the verdict
    expect(report.verdict).toBe('open');
    expect(report.changes?.newlyOpen).toEqual(
      [
        `local nmap-01 port ${submission.port}`,
        `local nmap-01 port ${implicit.port}`,
        `local nmap-02 port ${submission.port}`,
        `local nmap-02 port ${implicit.port}`,
      ].sort(),
    );
    expect(implicit.rcpts).toEqual(['relaytest@relay-check.example', 'relaytest@relay-check.example']);
    expect(r.exit).toBe(1);

    const text = await run(...args);
    expect(text.out).toContain(
      `    2 probes: DENIED 2\n    port ${submission.port}: 2 probes: ACCEPTED_RCPT 2\n    port ${implicit.port} (TLS): 2 probes: ACCEPTED_RCPT 2\n    port ${closedPort}: closed — 127.0.0.1:${closedPort}: `,
    );
    expect(text.out).toContain(
      `    OPEN nmap-01 port ${submission.port}: EHLO relay-audit.test MAIL FROM:<> RCPT TO:<relaytest@relay-check.example> → 250 Accepted\n`,
    );
  });

  it('a bad --submission-ports list is one line, exit 2', async () => {
    const r = await run('probe', '--target', '127.0.0.1', '--ext-domain', 'x.test', '--submission-ports', '587,465/ssl');
    expect(r.err).toBe(
      "relay-audit: --submission-ports '587,465/ssl': '465/ssl' is not PORT or PORT/tls (1..65535), and 'none' turns the sweep off\n",
    );
    const repeated = await run(
      'probe',
      '--target',
      '127.0.0.1',
      '--ext-domain',
      'x.test',
      '--submission-ports',
      '587',
      '--submission-ports',
      '465/ssl',
    );
    expect(repeated.err).toBe(
      "relay-audit: --submission-ports '587,465/ssl': '465/ssl' is not PORT or PORT/tls (1..65535), and 'none' turns the sweep off\n",
    );
    expect(r.exit).toBe(2);
  });

  it('a banner that is not SMTP, and a target that does not answer: one line each, exit 3', async () => {
    const s = await startNotSmtp();
    cleanups.push(() => s.close());
    const a = await run('probe', '--target', `127.0.0.1:${s.port}`, '--ext-domain', 'x.test', '--timeout', '1s');
    expect(a.err).toBe(`relay-audit: vantage local: 127.0.0.1:${s.port}: the banner is not an SMTP greeting: "SSH-2.0-OpenSSH_9.2"\n`);
    expect(a.exit).toBe(3);
    const closed = net.createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((res) => closed.close(res));
    // the old spelling (bare milliseconds) still works for this release, with a deprecation line first
    const b = await run('probe', '--target', `127.0.0.1:${port}`, '--ext-domain', 'x.test', '--timeout', '1000', '--json');
    expect(b.err).toMatch(
      new RegExp(
        `^relay-audit: warning: --timeout 1000 without a unit is deprecated and read as 1000ms; write --timeout 1s\\nrelay-audit: vantage local: 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\n$`,
      ),
    );
    expect((JSON.parse(b.out) as Report).vantages[0]).toMatchObject({ vantage: 'local', verdict: 'inconclusive', probes: [] });
    expect(b.exit).toBe(3);
  });

  it('--state reports a new open path, --junit marks it failed, --alert-to mails it', async () => {
    const dir = tmp();
    const state = join(dir, 'state.json');
    const junit = join(dir, 'junit.xml');
    let relaying = false;
    const m = await mta((rcpt) => (relaying || !/relay-check/.test(rcpt) ? null : { code: 550, message: '5.7.1 Relaying denied' }));
    const alerts = await mta(() => null);
    const args = [
      'probe',
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01,nmap-02',
      '--state',
      state,
      '--junit',
      junit,
      '--alert-to',
      'admin@mine.test',
      '--smtp',
      `smtp://127.0.0.1:${alerts.port}`,
    ];
    const first = await run(...args);
    expect(first.out).toContain(`127.0.0.1:${m.port}: first run, verdict closed\n`);
    expect(alerts.messages).toEqual([]);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuite name="relay-audit 127.0.0.1:');
    expect(readFileSync(junit, 'utf8')).toContain('failures="0"');

    relaying = true;
    const second = await run(...args, '--json');
    const report = JSON.parse(second.out) as Report;
    expect(report.changes).toMatchObject({ newlyOpen: ['local nmap-01', 'local nmap-02'], closedSince: [], changed: true });
    expect(second.exit).toBe(1);
    expect(readFileSync(junit, 'utf8')).toContain('failures="2"');
    expect(readFileSync(junit, 'utf8')).toMatch(
      /<testcase classname="127\.0\.0\.1:\d+\.local" name="nmap-01"><failure type="ACCEPTED_RCPT"/,
    );
    expect(alerts.rcpts).toEqual(['admin@mine.test']);
    expect(alerts.messages[0]).toMatch(/Subject: relay-audit: 127\.0\.0\.1:\d+ is open \(2 new open paths\)/);
    expect(alerts.messages[0]).toContain('NEW OPEN PATH local nmap-01');

    const third = await run(...args);
    expect(third.out).toMatch(/no change since \S+ \(verdict open\)\n$/);
    expect(alerts.messages).toHaveLength(1);
  });

  it('a state file that is not ours is one line, exit 2', async () => {
    const dir = tmp();
    const state = join(dir, 'state.json');
    writeFileSync(state, 'hello');
    const m = await mta(denyExternal);
    const r = await run('probe', '--target', `127.0.0.1:${m.port}`, '--ext-domain', 'x.test', '--tests', 'nmap-01', '--state', state);
    expect(r.err).toBe(`relay-audit: ${state}: not a relay-audit state file (not JSON)\n`);
    expect(r.exit).toBe(2);
  });
});

describe('relay-audit config', () => {
  it('prints grants with provenance and findings, and exits 1 on the motivating hole', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'sendmail.mc'), "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nFEATURE(`access_db')dnl\n");
    writeFileSync(join(dir, 'relay-domains'), 'partner.test\n');
    writeFileSync(join(dir, 'hosts'), '10.99.0.21 partner.test\n10.99.0.11 v1.partner.test\n');
    const r = await run(
      'config',
      '--mc',
      join(dir, 'sendmail.mc'),
      '--relay-domains',
      join(dir, 'relay-domains'),
      '--hosts',
      join(dir, 'hosts'),
      '--client',
      '10.99.0.11',
      '--json',
    );
    const out = JSON.parse(r.out) as {
      findings: { code: string; from: string }[];
      predictions: { client: string; relays: boolean }[];
      grants: { kind: string; resolves_to?: string[] }[];
    };
    expect(out.findings.map((f) => f.code)).toEqual(['NAME_GRANT_SUFFIX', 'NAME_GRANT_A_RECORD']);
    expect(out.findings[0]?.from).toBe(`${join(dir, 'relay-domains')}:1`);
    expect(out.grants.find((g) => g.kind === 'client-name-suffix')?.resolves_to).toEqual(['10.99.0.21']);
    expect(out.predictions).toEqual([
      {
        client: '10.99.0.11',
        name: 'v1.partner.test',
        relays: true,
        why: `name v1.partner.test matches partner.test (${join(dir, 'relay-domains')}:1)`,
      },
    ]);
    expect(r.exit).toBe(1);
  });

  it('a config line it does not know is one line naming file:line, exit 2', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'sendmail.mc'), "FEATURE(`access_db')dnl\n");
    writeFileSync(join(dir, 'access'), 'Connect:127.0.0.1 RELAY\nConnect:10.1 MAYBE SO\n');
    const r = await run('config', '--mc', join(dir, 'sendmail.mc'), '--access', join(dir, 'access'));
    expect(r.err).toBe(`relay-audit: ${join(dir, 'access')}:2: access value we do not know: "MAYBE SO"\n`);
    expect(r.exit).toBe(2);
  });
});
