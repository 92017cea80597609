/**
 * Alert mail through nodemailer: one message per run whose result changed. Every network step has
 * a timeout; the SMTP URL is the user's (their own relay), never derived from the probe target.
 * A password never comes from the URL (it would show in `ps` and shell history): the user is named
 * in the URL, the password comes from the environment or a file, and it is sent only after
 * STARTTLS (or on smtps://) to a server whose certificate verified.
 */
import nodemailer from 'nodemailer';
import { UserError } from '@toolbox/shared';

/** `--smtp smtp://[user@]host[:port][?starttls=no][&ca=FILE]` (or smtps://), checked before anything connects. */
export interface SmtpRelay {
  host: string;
  port: number;
  /** smtps: TLS from the first byte. */
  secure: boolean;
  /** `?starttls=no`: never upgrade (only without a user). */
  ignoreTls: boolean;
  user?: string;
  /** `?ca=FILE`: PEM CA certificates the relay's certificate must chain to (default: Node's built-in list). */
  caFile?: string;
}

/** The URL as it may be printed: a password in it replaced by `***`. */
function redact(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^/]*@/i, '$1:***@');
}

export function parseSmtpUrl(text: string): SmtpRelay {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError('E_SMTP_URL', `--smtp '${redact(text)}' is not smtp://[user@]host:port or smtps://[user@]host:port`);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new UserError('E_SMTP_URL', `--smtp '${redact(text)}' is not smtp://[user@]host:port or smtps://[user@]host:port`);
  if (url.password !== '') {
    throw new UserError(
      'E_SMTP_PASSWORD_IN_URL',
      `--smtp '${redact(text)}': a password on the command line leaks through ps and shell history; name only the user (smtp://USER@host) and give the password in RELAY_AUDIT_SMTP_PASSWORD or a file named by --smtp-password-file`,
    );
  }
  const secure = url.protocol === 'smtps:';
  const ignoreTls = url.searchParams.get('starttls') === 'no';
  const user = url.username === '' ? undefined : decodeURIComponent(url.username);
  if (user !== undefined && ignoreTls && !secure) {
    throw new UserError(
      'E_SMTP_URL',
      `--smtp '${text}': ?starttls=no would send the password of ${user} in clear text; drop it, or use smtps://`,
    );
  }
  const caFile = url.searchParams.get('ca') ?? undefined;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (secure ? 465 : 25) : Number(url.port),
    secure,
    ignoreTls,
    ...(user === undefined ? {} : { user }),
    ...(caFile === undefined ? {} : { caFile }),
  };
}

export interface AlertMail {
  relay: SmtpRelay;
  /** The relay user's password (with `relay.user`). */
  password?: string;
  /** The contents of `relay.caFile`. */
  ca?: string;
  to: string;
  subject: string;
  text: string;
  timeoutMs: number;
  from?: string;
}

export async function sendAlert(m: AlertMail): Promise<string> {
  const { relay } = m;
  const hasAuth = relay.user !== undefined && m.password !== undefined;
  const transport = nodemailer.createTransport({
    host: relay.host,
    port: relay.port,
    secure: relay.secure,
    ignoreTLS: relay.ignoreTls,
    // with credentials: STARTTLS or no session, and the certificate always verified
    requireTLS: hasAuth && !relay.secure,
    tls: { rejectUnauthorized: true, ...(m.ca === undefined ? {} : { ca: m.ca }) },
    ...(hasAuth ? { auth: { user: relay.user ?? '', pass: m.password ?? '' } } : {}),
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
