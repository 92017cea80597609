/**
 * Turns raw lines of one file into stored rows or kept rejects, with the parser's context for that
 * file (its mtime dates syslog lines that carry no year). One input line is one row or one reject:
 * an over-long line is one `too_long` reject (its start and its true length), and a last line
 * without its newline one `truncated` reject.
 */
import { createParseContext, parseQueryLine } from './parse-querylog.js';
import type { RawLine } from './line-reader.js';
import type { LogFile } from './sources.js';
import { oversizedField } from './row.js';
import type { ParsedLine } from './store.js';

/** `YYYY-MM-DD HH:MM:SS.mmm` in local wall-clock time, as BIND writes its own times. */
export function localWallClock(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * A parser for one file. A query line logged without `print-time` has no time of its own: it gets
 * the file's modification time (the latest it can be), so that it still lands in a partition.
 */
export function lineParserFor(file: Pick<LogFile, 'mtimeMs'>): (raw: RawLine) => ParsedLine {
  const mtime = new Date(file.mtimeMs);
  const ctx = createParseContext(mtime);
  const fallbackTime = localWallClock(mtime);
  return (raw) => {
    if (raw.tooLong) return { kind: 'reject', lineNo: raw.lineNo, reason: 'too_long', line: raw.text, bytes: raw.bytes };
    // The input ended without the line's newline: whatever it looks like, it may have been cut (in
    // its flags, or before an optional field), so it is never a row.
    if (raw.unterminated) return { kind: 'reject', lineNo: raw.lineNo, reason: 'truncated', line: raw.text };
    const r = parseQueryLine(raw.text, ctx);
    if (r.kind === 'reject') return { kind: 'reject', lineNo: raw.lineNo, reason: r.reason, line: raw.text };
    const row = r.time === null ? { ...r, time: fallbackTime } : (r as typeof r & { time: string });
    // Wider than its MariaDB column: a reject on every store, never a value cut on one of them.
    if (oversizedField(row) !== null) return { kind: 'reject', lineNo: raw.lineNo, reason: 'field_too_long', line: raw.text };
    return { kind: 'row', lineNo: raw.lineNo, row };
  };
}
