/**
 * `--client IP|CIDR` as a range of fixed-width hex keys: `7F000001` for 127.0.0.1, 32 hex digits for
 * IPv6. Both databases compare `HEX(INET6_ATON(client_ip))` (SQLite: the dnslog_ip_hex function) as
 * text, which orders like the numbers because the widths are equal.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { UserError } from '@toolbox/shared';

/**
 * One address is compared as its hex key too, not as text: `2001:DB8::1`, `2001:db8:0::1` and the
 * `2001:db8::1` named logs are one client on both stores (SQLite compares text case-sensitively).
 */
export type ClientFilter = { kind: 'ip'; ip: string; hex: string } | { kind: 'range'; lo: string; hi: string; hexLength: number };

function v4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function v6Bytes(ip: string): number[] {
  let text = ip;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    tail.push(...v4Bytes(v4[1]));
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const a = head === '' ? [] : head.split(':');
  const b = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? a : [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b];
  const bytes = groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The address as upper-case hex (8 digits for IPv4, 32 for IPv6), or null when it is not an address. */
export function ipHex(ip: string): string | null {
  const bytes = isIPv4(ip) ? v4Bytes(ip) : isIPv6(ip) ? v6Bytes(ip) : null;
  return bytes === null ? null : bytes.map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
}

export function parseClientFilter(text: string): ClientFilter {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  const ip = m?.[1] ?? '';
  const hex = ipHex(ip);
  const bits = hex === null ? 0 : hex.length * 4;
  const prefix = m?.[2] === undefined ? null : Number(m[2]);
  if (hex === null || (prefix !== null && prefix > bits)) {
    throw new UserError('E_CLIENT', `--client '${text}': expected an IP address or a CIDR block like 192.0.2.0/24 or 2001:db8::/32`);
  }
  if (prefix === null) return { kind: 'ip', ip, hex };
  let lo = '';
  let hi = '';
  for (let i = 0; i < hex.length; i++) {
    const nibble = parseInt(hex[i] ?? '0', 16);
    const keep = Math.max(0, Math.min(4, prefix - i * 4));
    const mask = (0xf << (4 - keep)) & 0xf;
    lo += (nibble & mask).toString(16).toUpperCase();
    hi += ((nibble & mask) | (~mask & 0xf)).toString(16).toUpperCase();
  }
  return { kind: 'range', lo, hi, hexLength: hex.length };
}
