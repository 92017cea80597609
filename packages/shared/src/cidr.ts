/**
 * Addresses and CIDR blocks compared as addresses, never as text: `2001:db8::5`, `2001:0db8:0:0::5`
 * and `2001:DB8::5` are one address. The one parser every app uses (dnslog's `--client`, relay-audit's
 * `--own` and sendmail's access map, mx-check's `--treat-as-global` and its classification).
 *
 * Matching follows Node's `net.BlockList`: an IPv4 address is the IPv4-mapped IPv6 address
 * `::ffff:a.b.c.d`, so `::ffff:10.1.2.3` lies in 10.1.0.0/16, 10.1.2.3 in ::ffff:10.1.0.0/112, and
 * every address in ::/0.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface Cidr {
  family: 4 | 6;
  /** The address as written (trimmed), before the slash. */
  address: string;
  network: IpAddress;
  /** Prefix length; a bare address is a /32 or /128. */
  bits: number;
  /** `ADDR/BITS` as written. */
  text: string;
}

/**
 * Parses an address that `net.isIP` accepts (an IPv6 zone `%eth0` is kept). ipaddr.js alone reads
 * `::a.b.c.d` as IPv4-mapped; it is the deprecated IPv4-compatible form (::/96), so its dotted quad
 * is turned into hextets first.
 */
export function parseAddress(text: string): IpAddress | null {
  const family = isIP(text);
  if (family === 4) return ipaddr.IPv4.parse(text);
  if (family !== 6) return null;
  const compatible = /^::(\d+)\.(\d+)\.(\d+)\.(\d+)(%.*)?$/.exec(text);
  if (compatible) {
    const [a, b, c, d] = compatible.slice(1, 5).map(Number) as [number, number, number, number];
    return ipaddr.IPv6.parse(`::${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}${compatible[5] ?? ''}`);
  }
  return ipaddr.IPv6.parse(text);
}

/** The canonical text of an address (RFC 5952 for IPv6: lower case, zeros compressed), or null. */
export function canonicalAddress(text: string): string | null {
  return parseAddress(text.trim())?.toString() ?? null;
}

/** `ADDR/BITS` or a bare address (a /32 or /128); null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const [address = '', bitsText, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const network = parseAddress(address);
  if (network === null) return null;
  const family = network.kind() === 'ipv4' ? 4 : 6;
  const width = family === 4 ? 32 : 128;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return null;
  const bits = bitsText === undefined ? width : Number(bitsText);
  if (bits > width) return null;
  return { family, address, network, bits, text: `${address}/${bits}` };
}

/** The block in IPv6 space: IPv4 as IPv4-mapped, as `net.BlockList` sees it. */
function asV6(network: IpAddress, bits: number): [ipaddr.IPv6, number] {
  return network.kind() === 'ipv4' ? [(network as ipaddr.IPv4).toIPv4MappedAddress(), bits + 96] : [network as ipaddr.IPv6, bits];
}

function toCidr(c: string | Cidr): Cidr | null {
  return typeof c === 'string' ? parseCidr(c) : c;
}

/** Whether the address `ip` lies in `cidr`. Anything that is not an address or a CIDR is outside. */
export function inCidr(ip: string | IpAddress, cidr: string | Cidr): boolean {
  const a = typeof ip === 'string' ? parseAddress(ip) : ip;
  const c = toCidr(cidr);
  if (a === null || c === null) return false;
  const [addr] = asV6(a, 0);
  return addr.match(...asV6(c.network, c.bits));
}

/** Whether every address of `inner` lies in `outer` (both CIDRs; IPv4-mapped IPv6 counts as IPv4). */
export function cidrWithin(inner: string | Cidr, outer: string | Cidr): boolean {
  const i = toCidr(inner);
  const o = toCidr(outer);
  if (i === null || o === null) return false;
  const [iNet, iBits] = asV6(i.network, i.bits);
  const [oNet, oBits] = asV6(o.network, o.bits);
  return iBits >= oBits && iNet.match(oNet, oBits);
}
