/**
 * Text from the outside world (query names, mail banners, file names) made safe to print on a
 * terminal: C0 and C1 control characters and DEL become `\xNN`, and a backslash is doubled so that
 * what is printed reads back unambiguously. Everything else, non-ASCII letters included, is kept.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\\\x00-\x1f\x7f-\x9f]/.test(text) ? text.replace(/[\\\x00-\x1f\x7f-\x9f]/g, escapeChar) : text;
}

function escapeChar(c: string): string {
  return c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}
