/**
 * hosts(5) text as lines of an address and its names: `#` starts a comment, fields are split on any
 * white space, a line with an address and no name says nothing. Names are lower-cased with one
 * trailing dot dropped, as the resolver compares them. Lines whose first field is not an address
 * are skipped (glibc ignores them too).
 */
import { isIP } from 'node:net';

export interface HostsLine {
  /** 1-based line number in the file. */
  line: number;
  address: string;
  /** The canonical name first (what a reverse lookup answers), then the aliases. */
  names: string[];
}

export function parseHostsFile(text: string): HostsLine[] {
  const out: HostsLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const [address, ...names] = raw
      .replace(/#.*$/, '')
      .trim()
      .split(/\s+/)
      .filter((f) => f !== '');
    if (address === undefined || names.length === 0 || isIP(address) === 0) return;
    out.push({ line: i + 1, address, names: names.map((n) => (n.length > 1 ? n.toLowerCase().replace(/\.$/, '') : n.toLowerCase())) });
  });
  return out;
}
