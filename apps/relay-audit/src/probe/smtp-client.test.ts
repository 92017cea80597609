import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { SmtpClient, SmtpLostError, SmtpSecurityError } from './smtp-client.js';
import { startRawMta, startScriptedMta, type RawSession } from '../testing/scripted-mta.js';
import { useTestCa } from '../testing/test-ca.js';

const t = useTestCa();
const cleanups = t.cleanups;

async function connect(port: number): Promise<SmtpClient> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  const smtp = new SmtpClient(socket, 3000);
  cleanups.push(() => smtp.close());
  return smtp;
}

/** An MTA that answers STARTTLS with `afterStartTls` in one write, then really speaks TLS. */
async function injectingMta(afterStartTls: string) {
  const m = await startRawMta('220 mta.scripted.test ESMTP\r\n', (line: string, s: RawSession) => {
    if (/^EHLO/i.test(line)) s.write('250-mta.scripted.test\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n');
    else if (/^STARTTLS/i.test(line)) {
      s.write(afterStartTls);
      s.startTls(t.ca);
    } else if (/^AUTH/i.test(line)) s.write('235 2.7.0 ok\r\n');
    else if (/^QUIT/i.test(line)) s.end();
    else s.write('250 ok\r\n');
  });
  cleanups.push(() => m.close());
  return m;
}

describe('STARTTLS', () => {
  it('text after the 220 to STARTTLS in the same write fails the session as an injection, before any handshake', async () => {
    const m = await injectingMta('220 go ahead\r\n250 injected\r\n');
    const smtp = await connect(m.port);
    expect((await smtp.reply()).code).toBe(220);
    expect((await smtp.command('EHLO relay-audit.test')).code).toBe(250);
    const upgrade = smtp.startTls({ host: '127.0.0.1', ca: t.ca.caCert });
    await expect(upgrade).rejects.toThrow(SmtpSecurityError);
    await expect(upgrade).rejects.toThrow(
      'the server sent more after its 220 to STARTTLS, before the TLS handshake: a STARTTLS injection attempt (someone on the path can write into the connection); the session is dropped',
    );
    // nothing more was said: no EHLO inside TLS that "250 injected" could have answered
    await expect(smtp.command('EHLO relay-audit.test')).rejects.toThrow(SmtpSecurityError);
    await new Promise((r) => setTimeout(r, 50));
    expect(m.lines.map((l) => l.line)).toEqual(['EHLO relay-audit.test', 'STARTTLS']);
  });

  it('an honest 220 upgrades: the EHLO inside TLS gets the answer sent inside TLS, and the certificate verified against the CA', async () => {
    const m = await injectingMta('220 go ahead\r\n');
    const smtp = await connect(m.port);
    await smtp.reply();
    await smtp.command('EHLO relay-audit.test');
    expect((await smtp.startTls({ host: '127.0.0.1', ca: t.ca.caCert })).code).toBe(220);
    expect(smtp.tls).toEqual({ verified: true });
    expect((await smtp.command('EHLO relay-audit.test')).text).toBe('250-mta.scripted.test\n250-STARTTLS\n250 AUTH PLAIN');
    expect(m.lines).toEqual([
      { line: 'EHLO relay-audit.test', tls: false },
      { line: 'STARTTLS', tls: false },
      { line: 'EHLO relay-audit.test', tls: true },
    ]);
  });

  it('a reply nobody asked for, waiting before STARTTLS, fails the session before STARTTLS is sent', async () => {
    const m = await startRawMta('220 mta.scripted.test ESMTP\r\n', (line, s) =>
      s.write(/^EHLO/i.test(line) ? '250 mta.scripted.test\r\n250 extra\r\n' : '250 ok\r\n'),
    );
    cleanups.push(() => m.close());
    const smtp = await connect(m.port);
    await smtp.reply();
    await smtp.command('EHLO relay-audit.test');
    await new Promise((r) => setTimeout(r, 50));
    await expect(smtp.startTls({ host: '127.0.0.1' })).rejects.toThrow(
      'the server sent text nobody asked for before STARTTLS: "250 extra"; the session is dropped',
    );
    expect(m.lines.map((l) => l.line)).toEqual(['EHLO relay-audit.test']);
  });

  it('a refused STARTTLS is a reply for the caller, and the session stays in plain text', async () => {
    const m = await startRawMta('220 mta.scripted.test ESMTP\r\n', (line, s) =>
      s.write(/^STARTTLS/i.test(line) ? '454 4.7.0 TLS not available\r\n' : '250 ok\r\n'),
    );
    cleanups.push(() => m.close());
    const smtp = await connect(m.port);
    await smtp.reply();
    expect(await smtp.startTls({ host: '127.0.0.1' })).toEqual({ code: 454, text: '454 4.7.0 TLS not available' });
    expect(smtp.tls).toBeNull();
  });
});

describe('AUTH PLAIN', () => {
  it('is refused outside TLS: nothing is sent', async () => {
    const m = await startScriptedMta(() => null, { auth: { user: 'audit', password: 'pw' } });
    cleanups.push(() => m.close());
    const smtp = await connect(m.port);
    await smtp.reply();
    await smtp.command('EHLO relay-audit.test');
    await expect(smtp.authPlain('audit', 'pw', { allowUnverified: true })).rejects.toThrow(
      'refusing to send the AUTH password: the session is not in TLS (use --starttls, or a port that speaks TLS from the first byte)',
    );
    expect(m.auths).toEqual([]);
    expect(m.lines.some((l) => /^AUTH/i.test(l.line))).toBe(false);
  });

  it.each([
    [
      'a certificate from no CA we trust',
      () => ({ tls: t.ca.selfSigned, target: { host: '127.0.0.1', ca: t.ca.caCert } }),
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    ],
    ['a CA-signed certificate without the CA', () => ({ tls: t.ca, target: { host: '127.0.0.1' } }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [
      'a CA-signed certificate for another name',
      () => ({ tls: t.ca, target: { host: '127.0.0.1', name: 'other.test', ca: t.ca.caCert } }),
      'it is not for other.test',
    ],
  ])('is refused over TLS with %s, unless unverified is allowed', async (_what, setup, why) => {
    const { tls, target } = setup();
    const m = await startScriptedMta(() => null, { auth: { user: 'audit', password: 'pw' }, tls });
    cleanups.push(() => m.close());
    const smtp = await connect(m.port);
    await smtp.reply();
    await smtp.command('EHLO relay-audit.test');
    expect((await smtp.startTls(target)).code).toBe(220);
    expect(smtp.tls).toEqual({ verified: false, error: why });
    await smtp.command('EHLO relay-audit.test');
    await expect(smtp.authPlain('audit', 'pw', { allowUnverified: false })).rejects.toThrow(
      `refusing to send the AUTH password: the MTA's TLS certificate did not verify (${why}): give the CA that signed it with --tls-ca FILE and the name it carries with --tls-name NAME, or --tls-insecure to send the password anyway`,
    );
    expect(m.auths).toEqual([]);
    expect((await smtp.authPlain('audit', 'pw', { allowUnverified: true })).code).toBe(235);
    expect(m.auths).toEqual([{ user: 'audit', secure: true }]);
  });

  it('goes over TLS whose certificate verified (by address or by name)', async () => {
    const m = await startScriptedMta(() => null, { auth: { user: 'audit', password: 'pw' }, tls: t.ca });
    cleanups.push(() => m.close());
    for (const target of [
      { host: '127.0.0.1', ca: t.ca.caCert },
      { host: '127.0.0.1', name: 'mta.scripted.test', ca: t.ca.caCert },
    ]) {
      const smtp = await connect(m.port);
      await smtp.reply();
      await smtp.command('EHLO relay-audit.test');
      await smtp.startTls(target);
      expect(smtp.tls).toEqual({ verified: true });
      await smtp.command('EHLO relay-audit.test');
      expect((await smtp.authPlain('audit', 'pw', { allowUnverified: false })).code).toBe(235);
    }
    expect(m.auths).toEqual([
      { user: 'audit', secure: true },
      { user: 'audit', secure: true },
    ]);
  });
});

// the client used to keep every continuation line: only the text without a line end was limited
describe('reply limits (the reader shared with the integration tests)', () => {
  it('endless continuation lines fail the session at 64 KiB with one line, instead of growing without bound', async () => {
    const m = await startRawMta('220 mta.scripted.test ESMTP\r\n', (line, s) => {
      if (/^EHLO/i.test(line)) s.write('250-0123456789abcdef0123456789abcdef\r\n'.repeat(2000));
      else s.write('250 ok\r\n');
    });
    cleanups.push(() => m.close());
    const smtp = await connect(m.port);
    expect((await smtp.reply()).code).toBe(220);
    const ehlo = smtp.command('EHLO relay-audit.test');
    await expect(ehlo).rejects.toThrow(SmtpLostError);
    await expect(ehlo).rejects.toThrow('the server sent a reply longer than 65536 bytes');
  });
});
