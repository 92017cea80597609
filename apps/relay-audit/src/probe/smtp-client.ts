/**
 * A careful SMTP client over any duplex (a TCP socket, an SSH direct-tcpip channel): one command,
 * its whole (multi-line) reply, a timeout per reply; or, where the server advertised PIPELINING
 * (RFC 2920), a group of commands in one write with their replies in order. Never anything before
 * the banner: sendmail answers early talkers with "554 SMTP protocol error".
 *
 * Two refusals guard the operator's credentials and the dialogue (SmtpSecurityError): AUTH is sent
 * only inside TLS whose certificate verified (or when the caller explicitly allows an unverified
 * one), and after the 220 to STARTTLS nothing may arrive in plain text before the handshake — text
 * there is an injection (CVE-2011-0411 class), which would otherwise be read as TLS-protected replies.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SmtpReplyReader, type SmtpReply } from '@toolbox/shared/smtp-reply';

export type { SmtpReply };

/** Thrown when the peer goes away or stays silent; `partial` is what arrived of the last reply. */
export class SmtpLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpLostError';
  }
}

/**
 * A refusal to go on for the operator's safety (credentials about to leave unprotected, a STARTTLS
 * injection): not a result of the probe and not worth a retry.
 */
export class SmtpSecurityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpSecurityError';
  }
}

/** Where TLS goes and what its certificate must prove. */
export interface TlsTarget {
  /** The address connected to. */
  host: string;
  /** The name the certificate must be valid for (also sent as SNI); default `host`. */
  name?: string;
  /** PEM CA certificates to verify against instead of Node's built-in list. */
  ca?: string;
}

/** The TLS state of a session: null before TLS. */
export interface TlsState {
  /** The certificate chains to a trusted CA and is valid for the expected name. */
  verified: boolean;
  /** Why not, when it is not. */
  error?: string;
}

export class SmtpClient {
  private stream: Duplex;
  /** Replies are cut out of the stream, limits enforced, by the reader the tests' SMTP session uses too. */
  private readonly reader = new SmtpReplyReader();
  private readonly replies: SmtpReply[] = [];
  /** Callers waiting for replies, in the order the replies will come. */
  private readonly waiters: ((r: SmtpReply | Error) => void)[] = [];
  private failure: Error | null = null;
  private quitSent = false;
  private tlsState: TlsState | null = null;
  /** STARTTLS is sent and its reply is awaited. */
  private isStartTlsPending = false;
  /** The 220 to STARTTLS came: the next byte must be the server's part of the TLS handshake. */
  private isHandshakeNext = false;
  /** Plain text arrived after the 220 to STARTTLS. */
  private isInjected = false;
  private readonly timeoutMs: number;
  private readonly onData = (chunk: Buffer | string): void => this.receive(chunk);
  private readonly onError = (err: Error): void => this.fail(new SmtpLostError(err.message));
  private readonly onClose = (): void => this.fail(new SmtpLostError('the server closed the connection'));

  constructor(stream: Duplex, timeoutMs: number) {
    this.stream = stream;
    this.timeoutMs = timeoutMs;
    // an implicit-TLS port: the session starts in TLS
    if (stream instanceof tls.TLSSocket) this.tlsState = tlsStateOf(stream);
    this.attach();
  }

  /** Whether the session is in TLS, and whether its certificate verified. */
  get tls(): TlsState | null {
    return this.tlsState;
  }

  private attach(): void {
    this.stream.on('data', this.onData).on('error', this.onError).on('close', this.onClose);
  }

  private detach(): void {
    this.stream.off('data', this.onData).off('error', this.onError).off('close', this.onClose);
  }

  /** The next reply (the greeting first). */
  reply(): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const waiter = (r: SmtpReply | Error): void => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      // a silent server fails this reply and every one queued behind it: the dialogue is out of step
      const timer = setTimeout(() => this.fail(new SmtpLostError(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async command(line: string): Promise<SmtpReply> {
    const [reply] = this.pipeline([line]);
    if (reply === undefined) throw new Error('no command');
    return reply;
  }

  /**
   * Sends the commands in one write and returns a promise per reply, in order. Only for servers
   * that advertised PIPELINING, and only with commands RFC 2920 lets stand inside a group
   * (MAIL, RCPT, RSET; QUIT last). Rejections are the caller's to await; none goes unhandled.
   */
  pipeline(lines: readonly string[]): Promise<SmtpReply>[] {
    for (const line of lines) if (/[\r\n]/.test(line)) throw new Error(`an SMTP command is one line: ${JSON.stringify(line)}`);
    if (this.failure) {
      const failed = lines.map(() => Promise.reject(this.failure ?? new SmtpLostError('lost')));
      for (const f of failed) f.catch(() => undefined);
      return failed;
    }
    this.stream.write(lines.map((l) => `${l}\r\n`).join(''));
    if (lines.some((l) => /^QUIT$/i.test(l))) this.quitSent = true;
    return lines.map(() => {
      const r = this.reply();
      r.catch(() => undefined);
      return r;
    });
  }

  /** Sends a message body (dot-stuffed, CRLF) and waits for the end-of-data reply. */
  async data(body: string): Promise<SmtpReply> {
    const stuffed = body
      .replace(/\r?\n/g, '\r\n')
      .split('\r\n')
      .map((l) => (l.startsWith('.') ? `.${l}` : l))
      .join('\r\n');
    this.stream.write(`${stuffed}\r\n.\r\n`);
    return this.reply();
  }

  /**
   * Sends STARTTLS and, when the server answers 220, upgrades to TLS (RFC 3207). Resolves with the
   * reply (any other code: no upgrade, the caller decides). The certificate is checked and the
   * result kept in `tls`; it is not enforced here (probing needs no trust), `authPlain` enforces it.
   * Text the server sends after its 220 and before the handshake fails the session: read later as
   * replies, it would pass for what the server said inside TLS.
   */
  async startTls(target: TlsTarget): Promise<SmtpReply> {
    if (this.replies.length > 0 || this.reader.pending !== '') {
      throw this.refuse(
        `the server sent text nobody asked for before STARTTLS: ${JSON.stringify(this.unread().slice(0, 80))}; the session is dropped`,
      );
    }
    this.isStartTlsPending = true;
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) return reply;
    if (this.isInjected) {
      throw this.refuse(
        'the server sent more after its 220 to STARTTLS, before the TLS handshake: a STARTTLS injection attempt (someone on the path can write into the connection); the session is dropped',
      );
    }
    this.detach();
    let secure: tls.TLSSocket;
    try {
      secure = await wrapTls(this.stream, target, this.timeoutMs);
    } catch (err) {
      this.fail(err instanceof Error ? err : new SmtpLostError(String(err)));
      this.stream.destroy();
      throw err;
    }
    this.stream = secure;
    this.isHandshakeNext = false;
    this.tlsState = tlsStateOf(secure);
    this.attach();
    return reply;
  }

  /**
   * AUTH PLAIN — only inside TLS, and only when the certificate verified unless `allowUnverified`
   * (--tls-insecure). Otherwise nothing is sent and this throws SmtpSecurityError.
   */
  authPlain(user: string, password: string, opts: { allowUnverified: boolean }): Promise<SmtpReply> {
    const why =
      this.tlsState === null
        ? 'the session is not in TLS (use --starttls, or a port that speaks TLS from the first byte)'
        : !this.tlsState.verified && !opts.allowUnverified
          ? `the MTA's TLS certificate did not verify (${this.tlsState.error ?? 'unknown reason'}): give the CA that signed it with --tls-ca FILE and the name it carries with --tls-name NAME, or --tls-insecure to send the password anyway`
          : null;
    if (why !== null) return Promise.reject(new SmtpSecurityError(`refusing to send the AUTH password: ${why}`));
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  /**
   * Polite end without waiting: QUIT and half-close. The 221 tells us nothing, and waiting for
   * it (and for the server's close) costs a round trip per probe.
   */
  quit(): Promise<void> {
    const isOpen = !this.failure && !this.stream.destroyed;
    // replies still awaited (a pipelined QUIT's 221) will not come: settle them and their timers now
    this.fail(new SmtpLostError('the session was ended'));
    this.detach();
    this.stream.on('error', () => undefined);
    if (isOpen) this.stream.end(this.quitSent ? undefined : 'QUIT\r\n');
    const timer = setTimeout(() => this.stream.destroy(), this.timeoutMs);
    timer.unref();
    this.stream.once('close', () => clearTimeout(timer));
    this.stream.resume();
    return Promise.resolve();
  }

  close(): void {
    this.fail(new SmtpLostError('the session was ended'));
    this.stream.destroy();
  }

  private unread(): string {
    return [...this.replies.map((r) => r.text), this.reader.pending].filter((t) => t !== '').join('\n');
  }

  /** Fails the session for the operator's safety and drops the connection. */
  private refuse(message: string): SmtpSecurityError {
    const err = new SmtpSecurityError(message);
    this.fail(err);
    this.detach();
    this.stream.on('error', () => undefined);
    this.stream.destroy();
    return err;
  }

  private receive(chunk: Buffer | string): void {
    if (this.isHandshakeNext) {
      // plain text where the handshake should be: never read as replies
      this.isInjected = true;
      return;
    }
    const { replies, error } = this.reader.push(chunk);
    for (const [i, reply] of replies.entries()) {
      if (this.isStartTlsPending) {
        this.isStartTlsPending = false;
        if (reply.code === 220) {
          this.isHandshakeNext = true;
          // the rest of this read came after the 220 too
          if (i < replies.length - 1 || this.reader.pending !== '' || error !== null) this.isInjected = true;
          this.reader.clear();
          this.deliver(reply);
          return;
        }
      }
      this.deliver(reply);
    }
    if (error !== null) {
      this.fail(new SmtpLostError(`the server sent ${error.message}`));
      this.close();
    }
  }

  private deliver(reply: SmtpReply): void {
    const w = this.waiters.shift();
    if (w) w(reply);
    else this.replies.push(reply);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w(this.failure);
  }
}

/** The name each socket wrapTls made was checked against, for the error text. */
const checkedNames = new WeakMap<tls.TLSSocket, string>();

function tlsStateOf(s: tls.TLSSocket): TlsState {
  // `authorized` covers the chain and, as Node checks it against the `host` given to tls.connect, the name
  if (s.authorized) return { verified: true };
  const code = String(s.authorizationError);
  return {
    verified: false,
    error: code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? `it is not for ${checkedNames.get(s) ?? 'the expected name'}` : code,
  };
}

/**
 * TLS over an open duplex: after STARTTLS, or at once on an implicit-TLS port (465). The handshake
 * goes through whatever the certificate is (probing needs no trust); whether it verified — chain to
 * a trusted CA, valid for `name` — is on the socket (`authorized`) for the caller to enforce.
 */
export function wrapTls(raw: Duplex, target: TlsTarget, timeoutMs: number): Promise<tls.TLSSocket> {
  const name = target.name ?? target.host;
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      socket: raw,
      // the name the certificate is checked against; SNI only for a DNS name (never an address)
      host: name,
      ...(net.isIP(name) === 0 ? { servername: name } : {}),
      ...(target.ca === undefined ? {} : { ca: target.ca }),
      rejectUnauthorized: false,
    });
    checkedNames.set(s, name);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new SmtpLostError(`TLS handshake: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(new SmtpLostError(`TLS handshake: ${err.message}`));
    });
  });
}
