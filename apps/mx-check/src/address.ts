/**
 * Address classes an MX target can fall into (IPv4 and IPv6, IPv4-mapped IPv6 folded onto IPv4),
 * and CIDR matching for `--treat-as-global`. Pure functions.
 */
import { isIP } from 'node:net';

export type AddressClass = 'global' | 'loopback' | 'private' | 'unroutable' | 'reserved';

export interface Cidr {
  family: 4 | 6;
  /** The network as a big-endian bit string in a bigint (32 or 128 bits). */
  net: bigint;
  bits: number;
  text: string;
}

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBig(ip: string): bigint {
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  // an embedded dotted quad (::ffff:127.0.0.1) becomes two hextets
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const v = v4ToBig(dotted[1]);
    text = `${text.slice(0, -dotted[1].length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
}

/** Parses `ADDR/BITS` (or a bare address, a /32 or /128); null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const [addr = '', bitsText, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return null;
  const width = family === 4 ? 32 : 128;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return null;
  const bits = bitsText === undefined ? width : Number(bitsText);
  if (bits > width) return null;
  const value = family === 4 ? v4ToBig(addr) : v6ToBig(addr);
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { family, net: value & mask, bits, text: `${addr}/${bits}` };
}

function inCidr(family: 4 | 6, value: bigint, c: Cidr): boolean {
  if (c.family !== family) return false;
  const width = family === 4 ? 32 : 128;
  const mask = c.bits === 0 ? 0n : ((1n << BigInt(c.bits)) - 1n) << BigInt(width - c.bits);
  return (value & mask) === c.net;
}

const cidrs = (list: readonly string[]): Cidr[] => list.map((t) => parseCidr(t) as Cidr);

const V4: readonly (readonly [AddressClass, Cidr[], string])[] = [
  ['loopback', cidrs(['127.0.0.0/8']), 'loopback'],
  ['unroutable', cidrs(['0.0.0.0/8']), '"this network" (0/8)'],
  ['unroutable', cidrs(['255.255.255.255/32']), 'limited broadcast'],
  ['unroutable', cidrs(['224.0.0.0/4']), 'multicast'],
  ['unroutable', cidrs(['240.0.0.0/4']), 'reserved (240/4)'],
  ['private', cidrs(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']), 'private (RFC 1918)'],
  ['private', cidrs(['100.64.0.0/10']), 'shared address space (CGNAT, RFC 6598)'],
  ['private', cidrs(['169.254.0.0/16']), 'link-local'],
  ['reserved', cidrs(['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24']), 'documentation range (RFC 5737)'],
  ['reserved', cidrs(['198.18.0.0/15']), 'benchmarking range (RFC 2544)'],
  ['reserved', cidrs(['192.0.0.0/24']), 'IETF protocol assignments'],
];

const V6: readonly (readonly [AddressClass, Cidr[], string])[] = [
  ['loopback', cidrs(['::1/128']), 'loopback'],
  ['unroutable', cidrs(['::/128']), 'unspecified (::)'],
  ['unroutable', cidrs(['ff00::/8']), 'multicast'],
  ['private', cidrs(['fc00::/7']), 'unique local (fc00::/7)'],
  ['private', cidrs(['fe80::/10']), 'link-local'],
  ['reserved', cidrs(['2001:db8::/32']), 'documentation range (RFC 3849)'],
  ['reserved', cidrs(['100::/64']), 'discard-only (RFC 6666)'],
];

export interface AddressInfo {
  address: string;
  class: AddressClass;
  /** Why, in words: "loopback", "private (RFC 1918)", "IPv4-mapped loopback"… */
  detail: string;
}

/** Classifies one address; `treatAsGlobal` ranges win over everything but loopback and unspecified. */
export function classifyAddress(address: string, treatAsGlobal: readonly Cidr[] = []): AddressInfo {
  const family = isIP(address);
  if (family !== 4 && family !== 6) return { address, class: 'unroutable', detail: 'not an IP address' };
  let value = family === 4 ? v4ToBig(address) : v6ToBig(address);
  let fam: 4 | 6 = family;
  let mapped = false;
  // ::ffff:0:0/96 carries an IPv4 address: classify that (so ::ffff:127.0.0.0/104 is loopback)
  if (fam === 6 && value >> 32n === 0xffffn) {
    value &= 0xffffffffn;
    fam = 4;
    mapped = true;
  }
  const table = fam === 4 ? V4 : V6;
  for (const [cls, ranges, detail] of table) {
    if (!ranges.some((c) => inCidr(fam, value, c))) continue;
    const text = mapped ? `IPv4-mapped ${detail}` : detail;
    if ((cls === 'loopback' || detail.startsWith('unspecified')) || !treatAsGlobal.some((c) => inCidr(family, family === 4 ? v4ToBig(address) : v6ToBig(address), c))) {
      return { address, class: cls, detail: text };
    }
    return { address, class: 'global', detail: `${text}, treated as global` };
  }
  if (fam === 6 && !inCidr(6, value, parseCidr('2000::/3') as Cidr)) {
    if (treatAsGlobal.some((c) => inCidr(6, value, c))) return { address, class: 'global', detail: 'treated as global' };
    return { address, class: 'reserved', detail: 'outside global unicast 2000::/3' };
  }
  return { address, class: 'global', detail: 'global unicast' };
}
