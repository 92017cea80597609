/**
 * `relay-audit probe` where the operator's safety is at stake: where the AUTH password may go, a
 * STARTTLS injection, the alert relay's password, and MTA text on the terminal.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { startRawMta, startScriptedMta, type RawSession, type ScriptedMta } from '../testing/scripted-mta.js';
import { useTestCa } from '../testing/test-ca.js';

const t = useTestCa();
const cleanups = t.cleanups;

async function run(env: Record<string, string>, ...args: string[]) {
  const io = createMemoryIo({ RELAY_AUDIT_PASSWORD: 'pw', ...env });
  const sweep = args.includes('--submission-ports') ? [] : ['--submission-ports', 'none'];
  const exit = await runCli('relay-audit', buildProgram, ['node', 'relay-audit', 'probe', ...args, ...sweep], io);
  return { exit, out: io.out(), err: io.err() };
}

async function mta(...a: Parameters<typeof startScriptedMta>): Promise<ScriptedMta> {
  const m = await startScriptedMta(...a);
  cleanups.push(() => m.close());
  return m;
}

interface Report {
  verdict: string;
  vantages: {
    vantage: string;
    error?: string;
    seen_as: { name: string | null; greeting: string } | null;
    probes: { id: string; text: string; class: string; stage: string }[];
  }[];
}

const target = (m: { port: number }): string[] => [
  '--target',
  `127.0.0.1:${m.port}`,
  '--ext-domain',
  'relay-check.example',
  '--tests',
  'nmap-01',
];
const withAuth = { auth: { user: 'audit', password: 'pw' } };

describe('--auth: the password goes only inside TLS whose certificate verified', () => {
  it('without --starttls it is refused before anything connects, one line, exit 2', async () => {
    const m = await mta(() => null, withAuth);
    const r = await run({}, ...target(m), '--auth', 'audit');
    expect(r.err).toBe(
      `relay-audit: --auth sends a password, and only inside TLS: add --starttls (port ${m.port} does not speak TLS from the first byte)\n`,
    );
    expect(r.out).toBe('');
    expect(r.exit).toBe(2);
    expect(m.connections()).toBe(0);
    // the submission sweep's plain ports count too
    const s = await run(
      {},
      '--target',
      '127.0.0.1:465',
      '--ext-domain',
      'relay-check.example',
      '--auth',
      'audit',
      '--submission-ports',
      '587,465/tls',
    );
    expect(s.err).toBe(
      'relay-audit: --auth sends a password, and only inside TLS: add --starttls (port 587 does not speak TLS from the first byte)\n',
    );
    expect(s.exit).toBe(2);
  });

  it('over STARTTLS with a certificate that does not verify: the vantage fails with one line, no AUTH is sent, exit 3', async () => {
    const m = await mta(() => null, { ...withAuth, tls: t.ca });
    const r = await run({}, ...target(m), '--auth', 'audit', '--starttls', '--json');
    expect(r.err).toBe(
      `relay-audit: vantage local: 127.0.0.1:${m.port}: refusing to send the AUTH password: the MTA's TLS certificate did not verify (UNABLE_TO_VERIFY_LEAF_SIGNATURE): give the CA that signed it with --tls-ca FILE and the name it carries with --tls-name NAME, or --tls-insecure to send the password anyway\n`,
    );
    expect((JSON.parse(r.out) as Report).vantages[0]).toMatchObject({ vantage: 'local', probes: [] });
    expect(r.exit).toBe(3);
    expect(m.auths).toEqual([]);
    // the name counts as much as the CA
    const named = await run({}, ...target(m), '--auth', 'audit', '--starttls', '--tls-ca', t.ca.caPath, '--tls-name', 'other.test');
    expect(named.err).toContain(
      `127.0.0.1:${m.port}: refusing to send the AUTH password: the MTA's TLS certificate did not verify (it is not for other.test)`,
    );
    expect(named.exit).toBe(3);
    expect(m.auths).toEqual([]);
  });

  it('with --tls-ca (by address, or by --tls-name) the password goes, inside TLS', async () => {
    const m = await mta(() => null, { ...withAuth, tls: t.ca });
    for (const extra of [[], ['--tls-name', 'mta.scripted.test']]) {
      const r = await run({}, ...target(m), '--auth', 'audit', '--starttls', '--tls-ca', t.ca.caPath, ...extra, '--json');
      expect(r.err).toBe('');
      expect((JSON.parse(r.out) as Report).vantages[0]?.probes[0]).toMatchObject({ stage: 'RCPT', class: 'ACCEPTED_RCPT' });
      expect(r.exit).toBe(1);
    }
    // the greeting session and the probe, twice: every AUTH inside TLS
    expect(m.auths).toEqual(Array(4).fill({ user: 'audit', secure: true }));
  });

  it('--tls-insecure sends it over TLS that did not verify; plain --starttls probing needs no verification', async () => {
    const m = await mta(() => null, { ...withAuth, tls: t.ca.selfSigned });
    const r = await run({}, ...target(m), '--auth', 'audit', '--starttls', '--tls-insecure', '--json');
    expect((JSON.parse(r.out) as Report).vantages[0]?.probes[0]).toMatchObject({ class: 'ACCEPTED_RCPT' });
    expect(m.auths).toEqual([
      { user: 'audit', secure: true },
      { user: 'audit', secure: true },
    ]);
    const open = await mta(() => null, { requireTls: true, tls: t.ca.selfSigned });
    const plain = await run({}, ...target(open), '--starttls', '--json');
    expect(plain.err).toBe('');
    expect((JSON.parse(plain.out) as Report).vantages[0]?.probes[0]).toMatchObject({ class: 'ACCEPTED_RCPT' });
  });

  it('on a port that speaks TLS from the first byte the certificate is checked the same way', async () => {
    const m = await mta(() => null, { ...withAuth, tls: t.ca, implicitTls: true });
    const args = [
      '--target',
      `127.0.0.1:${m.port}`,
      '--ext-domain',
      'relay-check.example',
      '--tests',
      'nmap-01',
      '--submission-ports',
      `${m.port}/tls`,
      '--auth',
      'audit',
      '--json',
    ];
    const refused = await run({}, ...args);
    expect(refused.err).toContain(
      `127.0.0.1:${m.port}: refusing to send the AUTH password: the MTA's TLS certificate did not verify (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    );
    expect(refused.exit).toBe(3);
    expect(m.auths).toEqual([]);
    const verified = await run({}, ...args, '--tls-ca', t.ca.caPath);
    expect((JSON.parse(verified.out) as Report).vantages[0]?.probes[0]).toMatchObject({ class: 'ACCEPTED_RCPT' });
    expect(m.auths).toEqual([
      { user: 'audit', secure: true },
      { user: 'audit', secure: true },
    ]);
  });

  it('a submission port whose certificate does not verify fails the whole vantage, naming that port', async () => {
    const main = await mta(() => null, { ...withAuth, tls: t.ca });
    const submission = await mta(() => null, { ...withAuth, tls: t.ca.selfSigned });
    const r = await run(
      {},
      ...target(main),
      '--auth',
      'audit',
      '--starttls',
      '--tls-ca',
      t.ca.caPath,
      '--submission-ports',
      String(submission.port),
      '--json',
    );
    expect(r.err).toBe(
      `relay-audit: vantage local: 127.0.0.1:${submission.port}: refusing to send the AUTH password: the MTA's TLS certificate did not verify (DEPTH_ZERO_SELF_SIGNED_CERT): give the CA that signed it with --tls-ca FILE and the name it carries with --tls-name NAME, or --tls-insecure to send the password anyway\n`,
    );
    expect((JSON.parse(r.out) as Report).vantages[0]).toMatchObject({ verdict: 'inconclusive', probes: [] });
    expect(r.exit).toBe(3);
    expect(submission.auths).toEqual([]);
  });
});

describe('STARTTLS injection', () => {
  it('"220 go ahead\\r\\n250 injected\\r\\n" in one write fails the vantage as an injection; nothing more is sent', async () => {
    const m = await startRawMta('220 mta.scripted.test ESMTP\r\n', (line: string, s: RawSession) => {
      if (/^EHLO/i.test(line)) s.write('250-mta.scripted.test Hello [127.0.0.1]\r\n250 STARTTLS\r\n');
      else if (/^STARTTLS/i.test(line)) {
        s.write('220 go ahead\r\n250 injected\r\n');
        s.startTls(t.ca);
      } else if (/^QUIT/i.test(line)) s.end();
      else s.write('250 ok\r\n');
    });
    cleanups.push(() => m.close());
    const r = await run({}, ...target(m), '--starttls', '--json');
    expect(r.err).toBe(
      `relay-audit: vantage local: 127.0.0.1:${m.port}: the server sent more after its 220 to STARTTLS, before the TLS handshake: a STARTTLS injection attempt (someone on the path can write into the connection); the session is dropped\n`,
    );
    expect((JSON.parse(r.out) as Report).vantages[0]).toMatchObject({ verdict: 'inconclusive', probes: [] });
    expect(r.exit).toBe(3);
    expect(m.lines.map((l) => l.line)).toEqual(['EHLO relay-audit.test', 'STARTTLS']);
  });
});

describe('--smtp: the alert relay password never in the URL', () => {
  const alertArgs = (m: { port: number }, smtp: string): string[] => [...target(m), '--alert-to', 'admin@mine.test', '--smtp', smtp];

  it('a password in the URL is one line, exit 2, before anything connects', async () => {
    const m = await mta(() => null);
    const alerts = await mta(() => null);
    const r = await run({}, ...alertArgs(m, `smtp://alert:s3cret@127.0.0.1:${alerts.port}`));
    expect(r.err).toBe(
      `relay-audit: --smtp 'smtp://alert:***@127.0.0.1:${alerts.port}': a password on the command line leaks through ps and shell history; name only the user (smtp://USER@host) and give the password in RELAY_AUDIT_SMTP_PASSWORD or a file named by --smtp-password-file\n`,
    );
    expect(r.err).not.toContain('s3cret');
    expect(r.exit).toBe(2);
    expect(m.connections() + alerts.connections()).toBe(0);
  });

  it.each([
    [
      ['--smtp', 'smtp://alert@127.0.0.1:25'],
      {},
      'relay-audit: --smtp names the user alert: give the password in RELAY_AUDIT_SMTP_PASSWORD or a file named by --smtp-password-file',
    ],
    [
      ['--smtp', 'smtp://127.0.0.1:25'],
      { RELAY_AUDIT_SMTP_PASSWORD: 'x' },
      'relay-audit: RELAY_AUDIT_SMTP_PASSWORD is set but --smtp names no user: smtp://USER@host:port',
    ],
    [
      ['--smtp-password-file', '/nonexistent/pw'],
      {},
      'relay-audit: --smtp-password-file is the password of the --smtp user: give --smtp smtp://USER@host:port too',
    ],
    [
      ['--smtp', 'smtp://alert@127.0.0.1:25?starttls=no'],
      { RELAY_AUDIT_SMTP_PASSWORD: 'x' },
      "relay-audit: --smtp 'smtp://alert@127.0.0.1:25?starttls=no': ?starttls=no would send the password of alert in clear text; drop it, or use smtps://",
    ],
    [
      ['--smtp', 'http://127.0.0.1'],
      {},
      "relay-audit: --smtp 'http://127.0.0.1' is not smtp://[user@]host:port or smtps://[user@]host:port",
    ],
  ])('%j with %j is one line, exit 2', async (args, env, line) => {
    const r = await run(env, '--target', '127.0.0.1:9', '--ext-domain', 'x.test', ...args);
    expect(r.err).toBe(`${line}\n`);
    expect(r.exit).toBe(2);
  });

  it('the password from RELAY_AUDIT_SMTP_PASSWORD or --smtp-password-file goes after STARTTLS, to a relay whose certificate verified', async () => {
    const m = await mta(() => null);
    const alerts = await mta(() => null, { auth: { user: 'alert', password: 's3cret' }, tls: t.ca });
    const url = `smtp://alert@127.0.0.1:${alerts.port}?ca=${encodeURIComponent(t.ca.caPath)}`;
    const byEnv = await run({ RELAY_AUDIT_SMTP_PASSWORD: 's3cret' }, ...alertArgs(m, url));
    expect(byEnv.err).toBe('');
    expect(byEnv.exit).toBe(1);
    const file = join(t.ca.dir, 'smtp-password');
    writeFileSync(file, 's3cret\n');
    const byFile = await run({}, ...alertArgs(m, url), '--smtp-password-file', file);
    expect(byFile.err).toBe('');
    expect(alerts.auths).toEqual([
      { user: 'alert', secure: true },
      { user: 'alert', secure: true },
    ]);
    expect(alerts.messages).toHaveLength(2);
    // without the CA the relay's certificate does not verify: no password, one line, exit 2
    const unverified = await run({ RELAY_AUDIT_SMTP_PASSWORD: 's3cret' }, ...alertArgs(m, `smtp://alert@127.0.0.1:${alerts.port}`));
    expect(unverified.err).toMatch(
      new RegExp(
        `^relay-audit: could not send the alert to admin@mine.test through smtp://alert@127\\.0\\.0\\.1:${alerts.port}: .*(certificate|verify).*\\n$`,
      ),
    );
    expect(unverified.exit).toBe(2);
    expect(alerts.auths).toHaveLength(2);
  });
});

describe('MTA text on the terminal', () => {
  const ESC = '\x1b';
  const hostile = (banner: string) =>
    startRawMta(banner, (line: string, s: RawSession) => {
      if (/^EHLO/i.test(line)) s.write(`250-mta.scripted.test Hello ${ESC}]0;pwned\x07 [127.0.0.1]\r\n250 HELP\r\n`);
      else if (/^RCPT/i.test(line)) s.write(`250 2.1.5 ok${ESC}[2J${ESC}[H\rrelay-audit: all clear\r\n`);
      else if (/^QUIT/i.test(line)) s.end();
      else s.write('250 ok\r\n');
    }).then((m) => {
      cleanups.push(() => m.close());
      return m;
    });

  it('a reply with escape sequences and a CR is escaped in the text report, exact in JSON', async () => {
    const m = await hostile('220 mta.scripted.test ESMTP\r\n');
    const text = await run({}, ...target(m));
    expect(text.out).toContain(`vantage local: open, seen as \\x1b]0;pwned\\x07 [127.0.0.1]\n`);
    expect(text.out).toContain(' → 250 2.1.5 ok\\x1b[2J\\x1b[H\\x0drelay-audit: all clear\n');
    // eslint-disable-next-line no-control-regex
    expect(text.out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    const json = JSON.parse((await run({}, ...target(m), '--json')).out) as Report;
    expect(json.vantages[0]?.seen_as?.name).toBe(`${ESC}]0;pwned\x07`);
    expect(json.vantages[0]?.probes[0]?.text).toBe(`250 2.1.5 ok${ESC}[2J${ESC}[H\rrelay-audit: all clear`);
  });

  it('a refusing banner with escape sequences and a CR is escaped on stderr and in the text report', async () => {
    const m = await hostile(`554 ${ESC}[31mgo away${ESC}[0m\rrelay-audit: target closed, all good\x9b2J\r\n`);
    const r = await run({}, ...target(m));
    const escaped = '554 \\x1b[31mgo away\\x1b[0m\\x0drelay-audit: target closed, all good\\x9b2J';
    expect(r.err).toBe(`relay-audit: vantage local: 127.0.0.1:${m.port}: ${escaped}\n`);
    expect(r.out).toContain(`vantage local: inconclusive, not reached — 127.0.0.1:${m.port}: ${escaped}\n`);
    expect(r.exit).toBe(3);
    const json = JSON.parse((await run({}, ...target(m), '--json')).out) as Report;
    expect(json.vantages[0]?.error).toBe(`127.0.0.1:${m.port}: 554 ${ESC}[31mgo away${ESC}[0m\rrelay-audit: target closed, all good\x9b2J`);
  });
});

describe('SSH vantages', () => {
  // --ssh-user used to default to root when $USER was unset (cron, systemd units)
  it('a vantage without a user, no --ssh-user and no $USER is one line, exit 2, before anything connects', async () => {
    const m = await mta(() => null);
    const r = await run({}, ...target(m), '--vantage', 'ssh://127.0.0.1:9');
    expect(r.err).toBe(
      'relay-audit: ssh://127.0.0.1:9: no user to log in as ($USER is not set); give --ssh-user or name it in the URL, ssh://user@host\n',
    );
    expect(r.exit).toBe(2);
    expect(m.connections()).toBe(0);
  });
});

describe('--state', () => {
  it('writes the state durably: the content is the state, no temporary file is left', async () => {
    const m = await mta(() => null);
    const dir = mkdtempSync(join(tmpdir(), 'relay-audit-state-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const state = join(dir, 'state.json');
    await run({}, ...target(m), '--state', state);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ target: `127.0.0.1:${m.port}`, unreachable: [] });
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});
