/**
 * Alert mail through nodemailer: one message per run whose result changed. Every network step has
 * a timeout; the SMTP URL is the user's (their own relay), never derived from the probe target.
 */
import nodemailer from 'nodemailer';

export interface AlertMail {
  smtpUrl: string;
  to: string;
  subject: string;
  text: string;
  timeoutMs: number;
  from?: string;
}

export async function sendAlert(m: AlertMail): Promise<string> {
  const url = new URL(m.smtpUrl);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error(`--smtp '${m.smtpUrl}' is not smtp://host:port or smtps://host:port`);
  const transport = nodemailer.createTransport({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (url.protocol === 'smtps:' ? 465 : 25) : Number(url.port),
    secure: url.protocol === 'smtps:',
    ignoreTLS: url.searchParams.get('starttls') === 'no',
    connectionTimeout: m.timeoutMs,
    greetingTimeout: m.timeoutMs,
    socketTimeout: m.timeoutMs,
    name: 'relay-audit.invalid',
  });
  try {
    const info = await transport.sendMail({
      from: m.from ?? 'relay-audit <relay-audit@localhost>',
      to: m.to,
      subject: m.subject,
      text: m.text,
      headers: { 'X-Relay-Audit': 'alert' },
    });
    return info.messageId;
  } finally {
    transport.close();
  }
}
