/**
 * `--since` / `--until`: a duration back from now (`90s`, `15m`, `1h`, `2d`, `1w`) or a date and time
 * in the reader's zone (`2026-11-25`, `2026-11-25 09:00`, `2026-11-25T09:00:00.500`). Stored times
 * are UTC, so the result is a UTC text `YYYY-MM-DD HH:MM:SS.mmm`, comparable as a string.
 */
import { parseDuration, UserError } from '@toolbox/shared';
import { msText, utcText, type TimeZone } from './zone.js';

/**
 * A bound as UTC text. A date and time is read in `zone`; one that names two instants (the hour a
 * fall-back repeats) is the first, one in a skipped hour is read with the offset before it.
 */
export function parseTimeBound(option: string, text: string, now: Date, zone: TimeZone): string {
  const ms = parseDuration(text);
  if (ms !== null) return utcText(new Date(now.getTime() - ms));
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/.exec(text.trim());
  if (m) {
    const [y, mo, d, h = '00', mi = '00', s = '00', frac = '0'] = m.slice(1);
    const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
    if (date.getUTCMonth() === Number(mo) - 1 && date.getUTCDate() === Number(d) && Number(h) < 24 && Number(mi) < 60 && Number(s) < 60) {
      const wall = date.getTime() + Number(frac.padEnd(3, '0'));
      return msText(zone.instantsOf(wall)[0] ?? wall);
    }
  }
  throw new UserError('E_TIME', `${option} '${text}': expected a duration like 1h, 30m, 2d or a time like 2026-11-25 09:00`);
}
