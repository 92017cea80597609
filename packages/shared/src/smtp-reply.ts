/**
 * Reading SMTP replies (RFC 5321 §4.2) from a byte stream, the one implementation the SMTP client of
 * relay-audit and the integration tests' SMTP session share. A reply is one line `250 text`, or
 * lines `250-text` ending with a `250 text` line; the reader cuts the stream into replies and
 * nothing else: no timeouts, no socket.
 *
 * What a hostile or broken server sends is data, never control over the reader:
 * - a line that is not a reply line (a banner that is not SMTP, an empty line), or a continuation
 *   line whose code differs from the first line's, ends the reply as it is with code NaN, so that a
 *   caller sees "not SMTP" instead of a code a later line made up;
 * - a line longer than `maxLineBytes`, or a reply longer than `maxReplyBytes` (its lines together),
 *   stops the reader for good with an SmtpReplyLimitError: memory is bounded whatever arrives;
 * - the text is kept exact, control characters included (escape it before it reaches a terminal,
 *   see printable.ts); bytes that are not UTF-8 become U+FFFD.
 * Lines end with LF; one CR before it is dropped (servers that send a bare LF are read as well).
 */

export interface SmtpReply {
  /** The reply code; NaN when the reply is malformed (see above). */
  code: number;
  /** All lines of the reply without their CRLF, joined by "\n" (`250-first\n250 last`). */
  text: string;
}

export interface SmtpReplyLimits {
  /** The longest line, in bytes without its CRLF. */
  maxLineBytes: number;
  /** The longest reply, in bytes, its lines and their line ends together. */
  maxReplyBytes: number;
}

/**
 * RFC 5321 §4.5.3.1.5 allows 512 bytes per reply line, but asks clients not to insist, and real MTAs
 * send longer 5xx texts and EHLO lines: eight times that per line, and 64 KiB per reply (a very long
 * EHLO answer is a few KiB).
 */
export const SMTP_REPLY_LIMITS: Readonly<SmtpReplyLimits> = { maxLineBytes: 4096, maxReplyBytes: 64 * 1024 };

/** The server sent more than the limits allow: the dialogue cannot go on. */
export class SmtpReplyLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpReplyLimitError';
  }
}

export interface SmtpReplyRead {
  /** The replies completed by this chunk, in order. */
  replies: SmtpReply[];
  /** Set when a limit was passed (in this chunk or before): nothing more will be read. */
  error: SmtpReplyLimitError | null;
}

/** RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39, then "-" (more lines follow), SP or the end. */
const REPLY_LINE = /^([2-5][0-5][0-9])([ -]|$)/;

const LF = 0x0a;
const CR = 0x0d;

export class SmtpReplyReader {
  private readonly limits: SmtpReplyLimits;
  private readonly decoder = new TextDecoder('utf-8');
  /** Complete lines of the reply under way. */
  private lines: string[] = [];
  /** The code of its first line. */
  private code: string | null = null;
  /** Bytes of its complete lines, line ends included. */
  private replyBytes = 0;
  /** The line under way, not yet ended. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private isPartialEndingInCr = false;
  private failure: SmtpReplyLimitError | null = null;

  constructor(limits: Partial<SmtpReplyLimits> = {}) {
    this.limits = { ...SMTP_REPLY_LIMITS, ...limits };
  }

  /** Reads a chunk of the stream (a string is taken as UTF-8). */
  push(chunk: Uint8Array | string): SmtpReplyRead {
    const replies: SmtpReply[] = [];
    if (this.failure) return { replies, error: this.failure };
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    while (start < bytes.length) {
      const lf = bytes.indexOf(LF, start);
      const piece = bytes.subarray(start, lf < 0 ? bytes.length : lf);
      this.partial.push(piece);
      this.partialBytes += piece.length;
      if (piece.length > 0) this.isPartialEndingInCr = piece[piece.length - 1] === CR;
      // the CR of a CRLF does not count towards the line (it may be the last byte of a read);
      // checked on every read, so a line that never ends is cut off at the limit, not at its end
      const lineBytes = this.partialBytes - (this.isPartialEndingInCr ? 1 : 0);
      if (lineBytes > this.limits.maxLineBytes) {
        return this.stop(replies, `a reply line longer than ${this.limits.maxLineBytes} bytes (RFC 5321 allows 512)`);
      }
      if (this.replyBytes + this.partialBytes > this.limits.maxReplyBytes) {
        return this.stop(replies, `a reply longer than ${this.limits.maxReplyBytes} bytes`);
      }
      if (lf < 0) break;
      start = lf + 1;
      const reply = this.line(this.takeLine());
      if (reply) replies.push(reply);
    }
    return { replies, error: null };
  }

  /** What has arrived of the next reply (its lines, then the unterminated rest), as text. */
  get pending(): string {
    const rest = this.partialBytes > 0 ? this.decoder.decode(Buffer.concat(this.partial)) : '';
    return [...this.lines, ...(rest === '' ? [] : [rest])].join('\n');
  }

  /** Forgets what has arrived of the next reply (after the 220 to STARTTLS it must not be read). */
  clear(): void {
    this.lines = [];
    this.code = null;
    this.replyBytes = 0;
    this.partial = [];
    this.partialBytes = 0;
    this.isPartialEndingInCr = false;
  }

  private takeLine(): string {
    const bytes = Buffer.concat(this.partial);
    this.partial = [];
    this.partialBytes = 0;
    this.isPartialEndingInCr = false;
    this.replyBytes += bytes.length + 1;
    return this.decoder.decode(bytes.at(-1) === CR ? bytes.subarray(0, -1) : bytes);
  }

  private line(line: string): SmtpReply | null {
    this.lines.push(line);
    const m = REPLY_LINE.exec(line);
    const isMalformed = m === null || (this.code !== null && m[1] !== this.code);
    if (!isMalformed && m[2] === '-') {
      this.code = m[1] ?? null;
      return null;
    }
    const reply = { code: isMalformed ? NaN : Number(m[1]), text: this.lines.join('\n') };
    this.clear();
    return reply;
  }

  private stop(replies: SmtpReply[], message: string): SmtpReplyRead {
    this.failure = new SmtpReplyLimitError(message);
    return { replies, error: this.failure };
  }
}
