import { describe, expect, it } from 'vitest';
import { SMTP_REPLY_LIMITS, SmtpReplyReader, type SmtpReply } from './smtp-reply.js';

/** Every reply in `chunks`, read one chunk at a time; throws on a limit error. */
function read(chunks: (string | Uint8Array)[], reader = new SmtpReplyReader()): SmtpReply[] {
  const out: SmtpReply[] = [];
  for (const c of chunks) {
    const r = reader.push(c);
    out.push(...r.replies);
    if (r.error) throw r.error;
  }
  return out;
}

describe('SmtpReplyReader', () => {
  it('reads one-line and multi-line replies, CRLF removed, lines joined by \\n', () => {
    expect(read(['220 mta.example ESMTP\r\n250-mta.example\r\n250-PIPELINING\r\n250 HELP\r\n'])).toEqual([
      { code: 220, text: '220 mta.example ESMTP' },
      { code: 250, text: '250-mta.example\n250-PIPELINING\n250 HELP' },
    ]);
  });

  it('takes a bare code as a last line and "250-" with no text as a continuation (RFC 5321 §4.2)', () => {
    expect(read(['250-\r\n250\r\n'])).toEqual([{ code: 250, text: '250-\n250' }]);
  });

  it('assembles a reply from reads split anywhere, CR and LF in different reads included', () => {
    const wire = '250-first\r\n250 last\r\n354 go ahead\r\n';
    for (let i = 1; i < wire.length; i++) {
      expect(read([wire.slice(0, i), wire.slice(i)]), `split at ${i}`).toEqual([
        { code: 250, text: '250-first\n250 last' },
        { code: 354, text: '354 go ahead' },
      ]);
    }
    expect(read([...wire])).toHaveLength(2);
  });

  it('reads a bare LF as a line end, and drops only one CR before it', () => {
    expect(read(['250-a\n250 b\r\r\n'])).toEqual([{ code: 250, text: '250-a\n250 b\r' }]);
  });

  it('keeps control characters and CRs inside a line exactly (they are escaped where they are printed)', () => {
    const text = '250 2.1.5 ok\x1b[2J\x1b[H\rrelay-audit: all clear\x00\x9b2J';
    expect(read([`${text}\r\n`])).toEqual([{ code: 250, text }]);
  });

  it('waits for the line end: a reply without one is pending, not delivered', () => {
    const reader = new SmtpReplyReader();
    expect(reader.push('250-first\r\n250 la')).toEqual({ replies: [], error: null });
    expect(reader.pending).toBe('250-first\n250 la');
    expect(reader.push('st\r\n').replies).toEqual([{ code: 250, text: '250-first\n250 last' }]);
    expect(reader.pending).toBe('');
  });

  it('clear() forgets what has arrived of the next reply', () => {
    const reader = new SmtpReplyReader();
    reader.push('250-injected\r\n250 inj');
    reader.clear();
    expect(reader.pending).toBe('');
    expect(read(['250 real\r\n'], reader)).toEqual([{ code: 250, text: '250 real' }]);
  });

  describe('malformed lines end the reply with code NaN', () => {
    it.each([
      ['a banner that is not SMTP', 'SSH-2.0-OpenSSH_9.2\r\n', 'SSH-2.0-OpenSSH_9.2'],
      ['an empty line', '\r\n', ''],
      ['a code not followed by space or dash', '250ok\r\n', '250ok'],
      ['a code of two digits', '25 ok\r\n', '25 ok'],
      ['a code outside RFC 5321 (first digit 2-5, second 0-5)', '199 ok\r\n', '199 ok'],
      ['a code of 6xx', '650 ok\r\n', '650 ok'],
      ['a code of x6x', '260 ok\r\n', '260 ok'],
    ])('%s', (_what, wire, text) => {
      const [reply] = read([wire]);
      expect(reply?.code).toBeNaN();
      expect(reply?.text).toBe(text);
    });

    // test/src/smtp-session.ts went on reading the reply after such a line and took the code of the
    // next reply line: "garbage" became part of a 250
    it('a line that is not a reply line inside a multi-line reply (smtp-session swallowed it into the reply)', () => {
      const replies = read(['250-mta.example\r\ngarbage\r\n250 HELP\r\n']);
      expect(replies).toHaveLength(2);
      expect(replies[0]?.code).toBeNaN();
      expect(replies[0]?.text).toBe('250-mta.example\ngarbage');
      expect(replies[1]).toEqual({ code: 250, text: '250 HELP' });
    });

    // both copies took the code of the last line: "250-…" then "550 …" read as a 550
    it("a continuation whose code differs from the first line (both copies took the last line's code)", () => {
      const replies = read(['250-accepted\r\n550 refused\r\n221 bye\r\n']);
      expect(replies[0]?.code).toBeNaN();
      expect(replies[0]?.text).toBe('250-accepted\n550 refused');
      expect(replies[1]).toEqual({ code: 221, text: '221 bye' });
    });
  });

  describe('limits', () => {
    it('accepts a line of exactly maxLineBytes, CRLF not counted, even with the CR as the last byte of a read', () => {
      const line = `250 ${'x'.repeat(SMTP_REPLY_LIMITS.maxLineBytes - 4)}`;
      expect(read([`${line}\r`, '\n'])).toEqual([{ code: 250, text: line }]);
    });

    // test/src/smtp-session.ts buffered without bound: a server that never sends a line end grew its memory
    it('a server that never ends its line is cut off at the line limit (smtp-session buffered without bound)', () => {
      const reader = new SmtpReplyReader({ maxLineBytes: 100 });
      expect(reader.push(`220 ${'x'.repeat(96)}`).error).toBeNull();
      const r = reader.push('x');
      expect(r.error?.message).toBe('a reply line longer than 100 bytes (RFC 5321 allows 512)');
      expect(r.error?.name).toBe('SmtpReplyLimitError');
      // and the reader stays stopped
      expect(reader.push('\r\n250 ok\r\n')).toEqual({ replies: [], error: r.error });
    });

    // apps/relay-audit's SmtpClient limited only the text without a line end: endless "250-…"
    // continuation lines were all kept
    it('endless continuation lines are cut off at the reply limit (relay-audit limited only the unterminated line)', () => {
      const reader = new SmtpReplyReader({ maxReplyBytes: 1000 });
      let error = null;
      let lines = 0;
      while (error === null && lines < 10_000) {
        error = reader.push('250-0123456789\r\n').error;
        lines++;
      }
      expect(error?.message).toBe('a reply longer than 1000 bytes');
      expect(lines).toBe(63); // 16 bytes a line: the 63rd passes 1000
    });

    it('replies delivered before the limit was passed in the same read are kept', () => {
      const reader = new SmtpReplyReader({ maxLineBytes: 20 });
      const r = reader.push(`220 ok\r\n250 ${'x'.repeat(30)}`);
      expect(r.replies).toEqual([{ code: 220, text: '220 ok' }]);
      expect(r.error?.message).toBe('a reply line longer than 20 bytes (RFC 5321 allows 512)');
    });

    it('counts bytes, not characters: a line of multi-byte letters hits the limit at its byte length', () => {
      const reader = new SmtpReplyReader({ maxLineBytes: 12 });
      expect(reader.push('250 üüüü\r\n').replies).toEqual([{ code: 250, text: '250 üüüü' }]); // 12 bytes
      expect(reader.push('250 üüüüü\r\n').error?.message).toBe('a reply line longer than 12 bytes (RFC 5321 allows 512)');
    });
  });

  describe('UTF-8', () => {
    // apps/relay-audit's SmtpClient decoded each read on its own: a letter split between two reads
    // became two U+FFFD
    it('a UTF-8 letter split across two reads arrives whole (relay-audit decoded each read on its own)', () => {
      const wire = Buffer.from('250 Grüße\r\n', 'utf8');
      const at = wire.indexOf(0xc3) + 1; // inside the two bytes of "ü"
      expect(read([wire.subarray(0, at), wire.subarray(at)])).toEqual([{ code: 250, text: '250 Grüße' }]);
    });

    it('bytes that are not UTF-8 become U+FFFD, the rest of the line is kept', () => {
      expect(read([Buffer.from([0x32, 0x35, 0x30, 0x20, 0xff, 0x61, 0x0d, 0x0a])])).toEqual([{ code: 250, text: '250 \ufffda' }]);
    });
  });
});
