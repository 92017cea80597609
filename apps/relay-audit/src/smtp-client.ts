/**
 * A careful SMTP client over any duplex (a TCP socket, an SSH direct-tcpip channel): one command,
 * its whole (multi-line) reply, a timeout per reply; or, where the server advertised PIPELINING
 * (RFC 2920), a group of commands in one write with their replies in order. Never anything before
 * the banner: sendmail answers early talkers with "554 SMTP protocol error".
 */
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface SmtpReply {
  code: number;
  /** All lines of the reply without CRLF, joined by "\n". */
  text: string;
}

/** Thrown when the peer goes away or stays silent; `partial` is what arrived of the last reply. */
export class SmtpLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpLostError';
  }
}

const REPLY_LINE = /^(\d{3})([ -]|$)/;
const MAX_REPLY_BYTES = 64 * 1024;

export class SmtpClient {
  private stream: Duplex;
  private buffered = '';
  private lines: string[] = [];
  private readonly replies: SmtpReply[] = [];
  /** Callers waiting for replies, in the order the replies will come. */
  private readonly waiters: ((r: SmtpReply | Error) => void)[] = [];
  private failure: Error | null = null;
  private quitSent = false;
  private readonly timeoutMs: number;
  private readonly onData = (chunk: Buffer | string): void => this.receive(chunk.toString());
  private readonly onError = (err: Error): void => this.fail(new SmtpLostError(err.message));
  private readonly onClose = (): void => this.fail(new SmtpLostError('the server closed the connection'));

  constructor(stream: Duplex, timeoutMs: number) {
    this.stream = stream;
    this.timeoutMs = timeoutMs;
    this.attach();
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
    const stuffed = body.replace(/\r?\n/g, '\r\n').split('\r\n').map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
    this.stream.write(`${stuffed}\r\n.\r\n`);
    return this.reply();
  }

  /** Upgrades to TLS after a 220 to STARTTLS. Probing: the certificate is recorded, not trusted. */
  async startTls(servername: string): Promise<void> {
    this.detach();
    this.stream = await wrapTls(this.stream, servername, this.timeoutMs);
    this.attach();
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

  private receive(chunk: string): void {
    this.buffered += chunk;
    if (this.buffered.length > MAX_REPLY_BYTES) {
      this.fail(new SmtpLostError(`the server sent more than ${MAX_REPLY_BYTES} bytes without a line end`));
      this.close();
      return;
    }
    let end: number;
    while ((end = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, end).replace(/\r$/, '');
      this.buffered = this.buffered.slice(end + 1);
      this.lines.push(line);
      const m = REPLY_LINE.exec(line);
      // a line that is not a reply line ends the reply as it is (code NaN): a banner that is not SMTP
      if (m === null || m[2] !== '-') {
        const reply = { code: m ? Number(m[1]) : NaN, text: this.lines.join('\n') };
        this.lines = [];
        const w = this.waiters.shift();
        if (w) w(reply);
        else this.replies.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w(this.failure);
  }
}

/**
 * TLS over an open duplex: after STARTTLS, or at once on an implicit-TLS port (465). Probing: the
 * certificate is recorded, not trusted.
 */
export function wrapTls(raw: Duplex, servername: string, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: raw, servername: /^[\d.:[\]]+$/.test(servername) ? undefined : servername, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new SmtpLostError(`TLS handshake: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new SmtpLostError(`TLS handshake: ${err.message}`));
    });
  });
}
