/**
 * Splits a byte stream into lines without decoding it as UTF-8: each line comes back as latin1
 * text (one char per byte), so binary junk keeps its exact bytes and ASCII logs cost nothing extra.
 * Every input line is exactly one RawLine. A line longer than `maxLineBytes` comes back as its first
 * `maxLineBytes` bytes plus its true length: the rest is counted and dropped as it streams by, so
 * memory stays bounded by the cap even for gigabytes without a newline (a zero-filled tail).
 */

export interface RawLine {
  /** 1-based line number in the input. */
  lineNo: number;
  /** The line without its LF or CRLF; only its first `maxLineBytes` bytes when `tooLong`. */
  text: string;
  /** The line's true length in bytes, without its LF or CRLF. */
  bytes: number;
  /** The line had no final newline (the input ended mid-line): it may have been cut. */
  unterminated: boolean;
  /** Longer than `maxLineBytes`: `text` is only its start. */
  tooLong: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

const CR = 13;

/**
 * The lines of a byte stream, one batch per chunk read (a whole chunk's lines at a time, so that a
 * million-line file costs thousands of awaits, not millions).
 */
export async function* readLineBatches(
  source: AsyncIterable<Buffer | string>,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<RawLine[]> {
  // The line that runs past the end of the chunks read so far: its first bytes (at most
  // maxLineBytes), its length so far, and its last byte (a CR there may be half of a CRLF).
  let head = '';
  let headBytes = 0;
  let headLast = -1;
  let lineNo = 0;
  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const batch: RawLine[] = [];
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      let bytes = headBytes + nl - start;
      let line: string;
      if (headBytes === 0) {
        line = bytes <= maxLineBytes ? text.slice(start, nl) : text.slice(start, start + maxLineBytes);
      } else {
        line = head.length < maxLineBytes ? head + text.slice(start, Math.min(nl, start + maxLineBytes - head.length)) : head;
      }
      const last = nl > start ? text.charCodeAt(nl - 1) : headLast;
      if (last === CR && bytes > 0) {
        bytes--;
        if (line.length > bytes) line = line.slice(0, bytes);
      }
      lineNo++;
      batch.push({ lineNo, text: line, bytes, unterminated: false, tooLong: bytes > line.length });
      head = '';
      headBytes = 0;
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length) {
      if (head.length < maxLineBytes) head += text.slice(start, start + maxLineBytes - head.length);
      headBytes += text.length - start;
      headLast = text.charCodeAt(text.length - 1);
    }
    if (batch.length > 0) yield batch;
  }
  if (headBytes > 0) {
    // Kept as it is, a CR included: the line was cut, so its bytes are all that is known of it.
    lineNo++;
    yield [{ lineNo, text: head, bytes: headBytes, unterminated: true, tooLong: headBytes > head.length }];
  }
}

/** The same lines one at a time. */
export async function* readLines(source: AsyncIterable<Buffer | string>, maxLineBytes = DEFAULT_MAX_LINE_BYTES): AsyncGenerator<RawLine> {
  for await (const batch of readLineBatches(source, maxLineBytes)) yield* batch;
}
