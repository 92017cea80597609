/**
 * CIDR blocks compared as addresses, never as text: `2001:db8::5`, `2001:0db8:0:0::5` and
 * `::ffff:192.0.2.1` are the addresses they are, whatever the spelling. Node's `net.BlockList` does
 * the matching (IPv4, IPv6 and IPv4-mapped IPv6 both ways); this module only parses and checks.
 */
import net from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `ADDR/BITS` or a bare address (a host: /32, /128); null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  const family = net.isIP(address);
  if (family === 0) return null;
  const max = family === 6 ? 128 : 32;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return null;
  const prefix = bitsText === undefined ? max : Number(bitsText);
  if (prefix > max) return null;
  return { address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' };
}

const lists = new Map<string, net.BlockList | null>();

function blockList(cidr: string): net.BlockList | null {
  let list = lists.get(cidr);
  if (list === undefined) {
    const c = parseCidr(cidr);
    list = c === null ? null : new net.BlockList();
    if (c !== null) list?.addSubnet(c.address, c.prefix, c.family);
    lists.set(cidr, list);
  }
  return list;
}

/** Whether the address `ip` lies in `cidr`. Anything that is not an address or a CIDR is outside. */
export function inCidr(ip: string, cidr: string): boolean {
  const family = net.isIP(ip);
  if (family === 0) return false;
  return blockList(cidr)?.check(ip, family === 6 ? 'ipv6' : 'ipv4') ?? false;
}

/** A CIDR's prefix length counted in IPv4 bits when it is an IPv4-mapped IPv6 block (`::ffff:0:0/96`). */
function v4Bits(c: Cidr): number | null {
  if (c.family === 'ipv4') return c.prefix;
  return c.prefix >= 96 && inCidr(c.address, '::ffff:0:0/96') ? c.prefix - 96 : null;
}

/** Whether every address of `inner` lies in `outer` (both CIDRs; IPv4-mapped IPv6 counts as IPv4). */
export function cidrWithin(inner: string, outer: string): boolean {
  const i = parseCidr(inner);
  const o = parseCidr(outer);
  if (i === null || o === null || !inCidr(i.address, outer)) return false;
  if (i.family === o.family) return i.prefix >= o.prefix;
  const ib = v4Bits(i);
  const ob = v4Bits(o);
  return ib !== null && ob !== null && ib >= ob;
}
