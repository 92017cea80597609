import { describe, expect, it } from 'vitest';
import { services } from './services-env.js';
import type { Vantage } from './services-env.js';
import { SmtpSession, connectTcp, connectTcpInNetns } from './smtp-session.js';

const env = services();
const mta = env.sendmail;
const EXTERNAL_RCPT = 'someone@external.example';

function vantage(name: string): Vantage {
  const found = env.network.vantages.find((v) => v.name === name);
  if (!found) throw new Error(`env.json has no vantage ${name}`);
  return found;
}

async function openFrom(v: Vantage): Promise<SmtpSession> {
  const stream =
    v.netns === null ? await connectTcp(mta.host, mta.port, v.address) : connectTcpInNetns(v.netns, mta.host, mta.port, v.address);
  return new SmtpSession(stream);
}

/** EHLO, MAIL, RCPT to an external domain, RSET, QUIT: never DATA, nothing is queued. */
async function relayProbe(v: Vantage): Promise<{ banner: string; ehlo: string; rcpt: { code: number; text: string } }> {
  const smtp = await openFrom(v);
  try {
    const banner = await smtp.reply();
    expect(banner.code).toBe(220);
    const ehlo = await smtp.command('EHLO probe.test');
    expect(ehlo.code).toBe(250);
    expect((await smtp.command('MAIL FROM:<probe@probe.test>')).code).toBe(250);
    const rcpt = await smtp.command(`RCPT TO:<${EXTERNAL_RCPT}>`);
    expect((await smtp.command('RSET')).code).toBe(250);
    expect((await smtp.command('QUIT')).code).toBe(221);
    return { banner: banner.text, ehlo: ehlo.text, rcpt };
  } finally {
    smtp.close();
  }
}

const escaped = (s: string): string => s.replace(/[.[\]]/g, '\\$&');

describe('sendmail in its network namespace', () => {
  it('greets a client bound to a root-namespace source address and names it in the EHLO reply', async () => {
    const src = vantage('src21');
    const smtp = await openFrom(src);
    try {
      const banner = await smtp.reply();
      expect(banner.text).toMatch(new RegExp(`^220 ${escaped(mta.hostname)} ESMTP Sendmail \\S+`));
      const ehlo = await smtp.command('EHLO probe.test');
      expect(ehlo.text.split('\n')[0]).toBe(`250-${mta.hostname} Hello ${src.hostname} [${src.address}], pleased to meet you`);
      expect((await smtp.command('QUIT')).code).toBe(221);
    } finally {
      smtp.close();
    }
  });

  it('refuses to relay for a source it does not know: 550 5.7.1 Relaying denied', async () => {
    const { rcpt } = await relayProbe(vantage('src21'));
    expect(rcpt.text).toBe(`550 5.7.1 <${EXTERNAL_RCPT}>... Relaying denied`);
  });

  it('relays for the vantage host in the v1 namespace (access: Connect:<its address> RELAY)', async () => {
    const v1 = vantage('v1');
    expect(v1.netns).toBe(env.network.namespaces.v1.name);
    const { ehlo, rcpt } = await relayProbe(v1);
    expect(ehlo).toContain(`[${v1.address}]`);
    expect(rcpt.text).toBe(`250 2.1.5 <${EXTERNAL_RCPT}>... Recipient ok`);
  });

  it('gives every vantage the verdict env.json promises', async () => {
    const verdicts: Record<string, number> = {};
    for (const v of env.network.vantages) verdicts[`${v.name} ${v.address}`] = (await relayProbe(v)).rcpt.code;
    const expected = Object.fromEntries(env.network.vantages.map((v) => [`${v.name} ${v.address}`, v.relays ? 250 : 550]));
    expect(verdicts).toEqual(expected);
  });
});
