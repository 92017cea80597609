/**
 * Address classes an MX target can fall into, IPv4 and IPv6, with the IANA special-purpose ranges
 * of ipaddr.js; IPv6 forms that carry an IPv4 address (IPv4-mapped and -translated, NAT64, 6to4,
 * Teredo) are judged by the IPv4 address they carry. Also: the address an exchange written as an
 * IP literal names. Parsing and CIDR matching (`--treat-as-global`) are shared's `cidr.ts`. Pure.
 */
import ipaddr from 'ipaddr.js';
import { inCidr, parseAddress, type Cidr } from '@toolbox/shared';

export type AddressClass = 'global' | 'loopback' | 'private' | 'unroutable' | 'reserved';

export interface AddressInfo {
  address: string;
  class: AddressClass;
  /** Why, in words: "loopback", "private (RFC 1918)", "IPv4-mapped loopback"… */
  detail: string;
  /** 0/8 or `::` (also carried in IPv6): no host at all, never made global by `--treat-as-global`. */
  isUnspecified: boolean;
}

type Judgement = readonly [AddressClass, string];

/** ipaddr.js's `reserved` IPv4 ranges, told apart. */
const V4_RESERVED: Record<string, [ipaddr.IPv4, number][]> = {
  'documentation range (RFC 5737)': ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'].map((c) => ipaddr.IPv4.parseCIDR(c)),
  'benchmarking range (RFC 2544)': [ipaddr.IPv4.parseCIDR('198.18.0.0/15')],
  'IETF protocol assignments': [ipaddr.IPv4.parseCIDR('192.0.0.0/24')],
  'reserved (240/4)': [ipaddr.IPv4.parseCIDR('240.0.0.0/4')],
  '6to4 relay anycast (RFC 7526, deprecated)': [ipaddr.IPv4.parseCIDR('192.88.99.0/24')],
};

/** ipaddr.js's `reserved` IPv6 ranges, told apart. */
const V6_RESERVED: Record<string, [ipaddr.IPv6, number][]> = {
  'documentation range (RFC 3849)': [ipaddr.IPv6.parseCIDR('2001:db8::/32')],
  'documentation range (RFC 9637)': [ipaddr.IPv6.parseCIDR('3fff::/20')],
};

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

function judgeV4(ip: ipaddr.IPv4): Judgement {
  const range = ip.range();
  switch (range) {
    case 'loopback':
      return ['loopback', 'loopback'];
    case 'unspecified':
      return ['unroutable', ip.toString() === '0.0.0.0' ? 'unspecified (0.0.0.0)' : '"this network" (0/8)'];
    case 'broadcast':
      return ['unroutable', 'limited broadcast'];
    case 'multicast':
      return ['unroutable', 'multicast'];
    case 'private':
      return ['private', 'private (RFC 1918)'];
    case 'carrierGradeNat':
      return ['private', 'shared address space (CGNAT, RFC 6598)'];
    case 'linkLocal':
      return ['private', 'link-local'];
    case 'reserved': {
      const detail = ipaddr.subnetMatch(ip, V4_RESERVED, 'reserved');
      return [detail === 'reserved (240/4)' ? 'unroutable' : 'reserved', detail];
    }
    // as112 and amt are anycast services reachable from anywhere (IANA: globally reachable)
    default:
      return ['global', 'global unicast'];
  }
}

/** The IPv4 address an IPv6 address carries, and how, when it is a form that carries one. */
function carriedV4(ip: ipaddr.IPv6): { v4: ipaddr.IPv4; how: string } | null {
  const p = ip.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  switch (ip.range()) {
    case 'ipv4Mapped':
      return { v4: ip.toIPv4Address(), how: 'IPv4-mapped' };
    case 'rfc6145':
      return { v4: v4(p[6] ?? 0, p[7] ?? 0), how: 'IPv4-translated' };
    case 'rfc6052':
      // only the well-known prefix has a fixed place for the IPv4 address; 64:ff9b:1::/48 does not
      return p[2] === 0 ? { v4: v4(p[6] ?? 0, p[7] ?? 0), how: 'NAT64' } : null;
    case '6to4':
      return { v4: v4(p[1] ?? 0, p[2] ?? 0), how: '6to4' };
    case 'teredo':
      // RFC 4380 §4: the client's address is stored with every bit inverted
      return { v4: v4((p[6] ?? 0) ^ 0xffff, (p[7] ?? 0) ^ 0xffff), how: 'Teredo' };
    default:
      return null;
  }
}

function judgeV6(ip: ipaddr.IPv6): Judgement {
  // ipaddr.js's type of range() lacks some of the names it returns (discard, deprecatedSiteLocal…)
  const range: string = ip.range();
  switch (range) {
    case 'loopback':
      return ['loopback', 'loopback'];
    case 'unspecified':
      return ['unroutable', 'unspecified (::)'];
    case 'multicast':
      return ['unroutable', 'multicast'];
    case 'uniqueLocal':
      return ['private', 'unique local (fc00::/7)'];
    case 'linkLocal':
      return ['private', 'link-local'];
    case 'deprecatedSiteLocal':
      return ['private', 'site-local (fec0::/10, deprecated)'];
    case 'rfc6052':
      return ['private', 'local-use NAT64 (64:ff9b:1::/48, RFC 8215)'];
    case 'discard':
      return ['reserved', 'discard-only (RFC 6666)'];
    case 'benchmarking':
      return ['reserved', 'benchmarking range (RFC 5180)'];
    case 'deprecatedOrchid':
    case 'orchid2':
    case 'droneRemoteIdProtocolEntityTags':
      return ['reserved', 'an identifier, not routable at the IP layer (ORCHID, RFC 7343; DRIP, RFC 9374)'];
    case 'segmentRouting':
      return ['reserved', 'SRv6 segment identifiers (RFC 9602)'];
    case 'reserved':
      return ['reserved', ipaddr.subnetMatch(ip, V6_RESERVED, 'IETF protocol assignments')];
    default:
      // as112v6 and amt are reachable from anywhere; outside 2000::/3 nothing is assigned as unicast
      return ip.match(GLOBAL_UNICAST_V6) ? ['global', 'global unicast'] : ['reserved', 'outside global unicast 2000::/3'];
  }
}

/**
 * Classifies one address; `treatAsGlobal` ranges (matched against the address and the IPv4
 * address it carries) win over everything but loopback and unspecified.
 */
export function classifyAddress(address: string, treatAsGlobal: readonly Cidr[] = []): AddressInfo {
  const ip = parseAddress(address);
  if (!ip) return { address, class: 'unroutable', detail: 'not an IP address', isUnspecified: false };
  let judged: Judgement;
  let carried: ipaddr.IPv4 | null = null;
  if (ip.kind() === 'ipv4') {
    judged = judgeV4(ip as ipaddr.IPv4);
  } else {
    const inner = carriedV4(ip as ipaddr.IPv6);
    if (inner) {
      carried = inner.v4;
      const [cls, detail] = judgeV4(inner.v4);
      judged = [
        cls,
        inner.how === 'IPv4-mapped' ? `IPv4-mapped ${detail}` : `${inner.how} address carrying ${inner.v4.toString()}: ${detail}`,
      ];
    } else {
      judged = judgeV6(ip as ipaddr.IPv6);
    }
  }
  const [cls, detail] = judged;
  const isUnspecified = (carried ?? ip).range() === 'unspecified';
  if (cls === 'global' || cls === 'loopback' || isUnspecified) return { address, class: cls, detail, isUnspecified };
  if (treatAsGlobal.some((c) => inCidr(ip, c) || (carried !== null && inCidr(carried, c)))) {
    return { address, class: 'global', detail: `${detail}, treated as global`, isUnspecified };
  }
  return { address, class: cls, detail, isUnspecified };
}

/**
 * The address an exchange written as an IP literal names, in canonical form, or null when the
 * exchange is a host name. The forms read are those a mail server would connect to: a dotted
 * quad, the shorter forms inet_aton reads (`127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1` — octal),
 * an IPv6 address, each also in brackets, and RFC 5321's `[IPv6:…]`. A trailing dot is ignored.
 */
export function literalAddress(name: string): string | null {
  let text = name.trim().toLowerCase();
  if (text.endsWith('.') && text.length > 1) text = text.slice(0, -1);
  const bracketed = /^\[(?:ipv6:)?(.*)\]$/.exec(text);
  if (bracketed) text = bracketed[1] ?? '';
  const ip = parseAddress(text);
  if (ip) return ip.toString();
  if (/^[0-9a-fx.]+$/.test(text) && ipaddr.IPv4.isValid(text)) return ipaddr.IPv4.parse(text).toString();
  return null;
}
