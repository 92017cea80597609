/**
 * Splits a byte stream into lines without decoding it as UTF-8: each line comes back as latin1
 * text (one char per byte), so binary junk keeps its exact bytes and ASCII logs cost nothing extra.
 * Memory is bounded by the longest line, itself capped: a longer "line" is cut into pieces flagged
 * `tooLong` (the bytes are all kept, in order).
 */

export interface RawLine {
  /** 1-based line number in the input. */
  lineNo: number;
  text: string;
  /** The line had no final newline (the input ended mid-line). */
  unterminated: boolean;
  /** A piece of a line longer than `maxLineBytes`. */
  tooLong: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/**
 * The lines of a byte stream, one batch per chunk read (a whole chunk's lines at a time, so that a
 * million-line file costs thousands of awaits, not millions).
 */
export async function* readLineBatches(
  source: AsyncIterable<Buffer | string>,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<RawLine[]> {
  let carry = '';
  let lineNo = 0;
  let inLongLine = false;
  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const batch: RawLine[] = [];
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      let line = carry === '' ? text.slice(start, nl) : carry + text.slice(start, nl);
      carry = '';
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (!inLongLine) lineNo++;
      batch.push({ lineNo, text: line, unterminated: false, tooLong: inLongLine });
      inLongLine = false;
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    carry += text.slice(start);
    while (carry.length > maxLineBytes) {
      if (!inLongLine) lineNo++;
      batch.push({ lineNo, text: carry.slice(0, maxLineBytes), unterminated: false, tooLong: true });
      carry = carry.slice(maxLineBytes);
      inLongLine = true;
    }
    if (batch.length > 0) yield batch;
  }
  if (carry !== '') {
    if (!inLongLine) lineNo++;
    yield [{ lineNo, text: carry, unterminated: true, tooLong: inLongLine }];
  }
}

/** The same lines one at a time. */
export async function* readLines(
  source: AsyncIterable<Buffer | string>,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<RawLine> {
  for await (const batch of readLineBatches(source, maxLineBytes)) yield* batch;
}
