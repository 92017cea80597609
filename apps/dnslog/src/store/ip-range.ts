/**
 * `--client IP|CIDR` as a range of fixed-width hex keys: `7F000001` for 127.0.0.1, 32 hex digits for
 * IPv6. Both databases compare `HEX(INET6_ATON(client_ip))` (SQLite: the dnslog_ip_hex function) as
 * text, which orders like the numbers because the widths are equal.
 */
import { parseAddress, parseCidr, UserError, type IpAddress } from '@toolbox/shared';

/**
 * One address is compared as its hex key too, not as text: `2001:DB8::1`, `2001:db8:0::1` and the
 * `2001:db8::1` named logs are one client on both stores (SQLite compares text case-sensitively).
 */
export type ClientFilter = { kind: 'ip'; ip: string; hex: string } | { kind: 'range'; lo: string; hi: string; hexLength: number };

function hexOf(ip: IpAddress): string {
  return ip
    .toByteArray()
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** The address as upper-case hex (8 digits for IPv4, 32 for IPv6), or null when it is not an address. */
export function ipHex(ip: string): string | null {
  const parsed = parseAddress(ip);
  return parsed === null ? null : hexOf(parsed);
}

export function parseClientFilter(text: string): ClientFilter {
  const cidr = parseCidr(text);
  if (cidr === null) {
    throw new UserError('E_CLIENT', `--client '${text}': expected an IP address or a CIDR block like 192.0.2.0/24 or 2001:db8::/32`);
  }
  const hex = hexOf(cidr.network);
  if (!text.includes('/')) return { kind: 'ip', ip: cidr.address, hex };
  const prefix = cidr.bits;
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
