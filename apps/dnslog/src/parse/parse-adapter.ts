/**
 * Turns raw lines of one file into stored rows or kept rejects, with the parser's context for that
 * file (its mtime dates syslog lines that carry no year). One input line is one row or one reject:
 * an over-long line is one `too_long` reject (its start and its true length), and a last line
 * without its newline one `truncated` reject.
 */
import { createParseContext, parseQueryLine } from './parse-querylog.js';
import type { RawLine } from './line-reader.js';
import { oversizedField } from '../store/row.js';
import type { ParsedLine } from '../store/store.js';
import { LineClock, localZone, timeZone, utcText } from '../time/zone.js';

/**
 * A parser for one file. Times are stored in UTC: a line's own zone when it writes one (ISO 8601
 * with `Z` or an offset), else the file's zone (LineClock: a repeated hour by file order); a line
 * more than an hour before the latest so far is a `time_back` reject. A query line logged without
 * `print-time` has no time of its own: it gets the file's modification time (the latest it can
 * be), so that it still lands in a partition.
 */
export function lineParserFor(file: { mtimeMs: number; zone?: string }): (raw: RawLine) => ParsedLine {
  const mtime = new Date(file.mtimeMs);
  const zone = file.zone === undefined ? localZone() : timeZone(file.zone);
  // The syslog year is inferred from the file's date where it was written.
  const ctx = createParseContext(mtime, zone.offsetAt(file.mtimeMs));
  const clock = new LineClock(zone);
  const fallbackTime = utcText(mtime);
  return (raw) => {
    if (raw.tooLong) return { kind: 'reject', lineNo: raw.lineNo, reason: 'too_long', line: raw.text, bytes: raw.bytes };
    // The input ended without the line's newline: whatever it looks like, it may have been cut (in
    // its flags, or before an optional field), so it is never a row.
    if (raw.unterminated) return { kind: 'reject', lineNo: raw.lineNo, reason: 'truncated', line: raw.text };
    const r = parseQueryLine(raw.text, ctx);
    if (r.kind === 'reject') return { kind: 'reject', lineNo: raw.lineNo, reason: r.reason, line: raw.text };
    let time = fallbackTime;
    if (r.time !== null) {
      const utc = clock.toUtc(r.time, r.zone);
      if (utc === null) return { kind: 'reject', lineNo: raw.lineNo, reason: 'time_back', line: raw.text };
      time = utc;
    }
    const row = { ...r, time };
    // Wider than its MariaDB column: a reject on every store, never a value cut on one of them.
    if (oversizedField(row) !== null) return { kind: 'reject', lineNo: raw.lineNo, reason: 'field_too_long', line: raw.text };
    return { kind: 'row', lineNo: raw.lineNo, row };
  };
}
