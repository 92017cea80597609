import { sshConnect, UserError } from '@toolbox/shared';
import { describe, expect, it } from 'vitest';
import { services } from './services-env.js';
import { SmtpSession } from './smtp-session.js';

const env = services();
const sshd = env.sshd;

describe('sshd', () => {
  it('runs a command as root, the host key checked against known_hosts', async () => {
    const conn = await sshConnect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKeyPath: sshd.privateKey,
      knownHostsPath: sshd.knownHosts,
    });
    try {
      const result = await conn.exec(['id', '-u']);
      expect(result.code).toBe(0);
      expect(result.stdout.toString()).toBe('0\n');
    } finally {
      conn.close();
    }
  });

  it('accepts the pinned fingerprint of its host key', async () => {
    const conn = await sshConnect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKeyPath: sshd.privateKey,
      hostKeyFingerprint: sshd.hostKeyFingerprint,
    });
    try {
      expect((await conn.exec(['true'])).code).toBe(0);
    } finally {
      conn.close();
    }
  });

  it('refuses a host key that does not match the pinned fingerprint (E_HOSTKEY)', async () => {
    // the vantage host's fingerprint: a real key, just not this server's
    const wrong = sshd.vantage.hostKeyFingerprint;
    expect(wrong).not.toBe(sshd.hostKeyFingerprint);
    const attempt = sshConnect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKeyPath: sshd.privateKey,
      hostKeyFingerprint: wrong,
    });
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(attempt).rejects.toMatchObject({ code: 'E_HOSTKEY' });
  });

  it('forwards from the vantage host: the MTA sees the vantage address', async () => {
    const vantage = sshd.vantage;
    const conn = await sshConnect({
      host: vantage.host,
      port: vantage.port,
      username: sshd.user,
      privateKeyPath: sshd.privateKey,
      knownHostsPath: sshd.knownHosts,
    });
    try {
      // the session runs inside the vantage namespace
      const ip = await conn.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(ip.stdout.toString()).toContain(` ${vantage.host}/`);

      const smtp = new SmtpSession(await conn.forwardOut(env.sendmail.host, env.sendmail.port));
      try {
        const banner = await smtp.reply();
        expect(banner.code).toBe(220);
        expect(banner.text).toMatch(/^220 \S+ ESMTP Sendmail/);
        const ehlo = await smtp.command('EHLO probe.test');
        expect(ehlo.code).toBe(250);
        expect(ehlo.text.split('\n')[0]).toMatch(new RegExp(`^250-\\S+ Hello \\S+ \\[${vantage.host.replace(/\./g, '\\.')}\\]`));
        expect((await smtp.command('QUIT')).code).toBe(221);
      } finally {
        smtp.close();
      }
    } finally {
      conn.close();
    }
  });
});
