/**
 * A careful lock-step SMTP client over any duplex (a TCP socket, an SSH direct-tcpip channel):
 * one command, its whole (multi-line) reply, a timeout per reply. No pipelining: sendmail answers
 * early commands with "554 SMTP protocol error".
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
  private waiter: ((r: SmtpReply | Error) => void) | null = null;
  private failure: Error | null = null;
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
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new SmtpLostError(`no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }

  async command(line: string): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) throw new Error(`an SMTP command is one line: ${JSON.stringify(line)}`);
    if (this.failure) throw this.failure;
    this.stream.write(`${line}\r\n`);
    return this.reply();
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
    const raw = this.stream;
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, servername: /^[\d.:[\]]+$/.test(servername) ? undefined : servername, rejectUnauthorized: false });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpLostError(`TLS handshake: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new SmtpLostError(`TLS handshake: ${err.message}`));
      });
    });
    this.stream = secure;
    this.attach();
  }

  /**
   * Polite end without waiting: QUIT and half-close. The 221 tells us nothing, and waiting for
   * it (and for the server's close) costs a round trip per probe.
   */
  quit(): Promise<void> {
    this.detach();
    this.stream.on('error', () => undefined);
    if (!this.failure && !this.stream.destroyed) this.stream.end('QUIT\r\n');
    const timer = setTimeout(() => this.stream.destroy(), this.timeoutMs);
    timer.unref();
    this.stream.once('close', () => clearTimeout(timer));
    this.stream.resume();
    return Promise.resolve();
  }

  close(): void {
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
        const w = this.waiter;
        this.waiter = null;
        if (w) w(reply);
        else this.replies.push(reply);
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.(this.failure);
  }
}
