/**
 * `mx-check hosts`: the names a hosts file aliases to loopback (the one-machine form of the "MX to
 * localhost" trick), and the aliases that would cut off something that matters. Pure except for
 * `readHostsContext`, which gathers the machine's facts.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { canonicalAddress, type HostsLine } from '@toolbox/shared';
import { classifyAddress } from '../classify/address.js';
import { parseResolvConf } from '../dns/resolver.js';

export interface HostsContext {
  hostname: string;
  /** Default gateway addresses (from /proc/net/route). */
  gateways: string[];
  /** resolv.conf name servers, and its search/domain names. */
  nameservers: string[];
  searchDomains: string[];
}

export interface LoopbackAlias {
  name: string;
  address: string;
  line: number;
  warnings: string[];
}

/** Names every system maps to loopback: not an alias anyone added. */
const STANDARD = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
  'localhost4',
  'localhost6',
  'localhost4.localdomain4',
  'localhost6.localdomain6',
]);

export function loopbackAliases(lines: readonly HostsLine[], ctx: HostsContext): LoopbackAlias[] {
  // addresses compared as addresses: resolv.conf's 2001:db8::53 is the hosts file's 2001:DB8:0::53
  const namesOf = (addrs: readonly string[]) => {
    const wanted = new Set(addrs.map((a) => canonicalAddress(a) ?? a));
    return new Set(lines.filter((l) => wanted.has(canonicalAddress(l.address) ?? l.address)).flatMap((l) => l.names));
  };
  const gatewayNames = namesOf(ctx.gateways);
  const nsNames = namesOf(ctx.nameservers);
  const host = ctx.hostname.toLowerCase();
  const shortHost = host.split('.')[0] ?? host;
  const out: LoopbackAlias[] = [];
  for (const l of lines) {
    if (classifyAddress(l.address).class !== 'loopback') continue;
    for (const name of l.names) {
      if (STANDARD.has(name)) continue;
      const warnings: string[] = [];
      if (name === host || name === shortHost || (name.split('.')[0] === shortHost && name.startsWith(`${shortHost}.`))) {
        warnings.push(`${name} is this machine's own name: services that listen only on its real address become unreachable by name`);
      }
      if (gatewayNames.has(name))
        warnings.push(`${name} is the default gateway's name (${ctx.gateways.join(', ')}): connections to it would stay on this machine`);
      if (nsNames.has(name)) warnings.push(`${name} is the name of a name server in resolv.conf (${ctx.nameservers.join(', ')})`);
      if (ctx.searchDomains.includes(name))
        warnings.push(`${name} is a search domain in resolv.conf: mail for it would be delivered locally`);
      out.push({ name, address: l.address, line: l.line, warnings });
    }
  }
  return out;
}

/** Default gateways from the text of /proc/net/route (little-endian hex addresses). */
export function parseProcRoute(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [, dest, gw] = line.trim().split(/\s+/);
    if (dest !== '00000000' || !gw || !/^[0-9A-Fa-f]{8}$/.test(gw)) continue;
    const n = parseInt(gw, 16);
    out.push([n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join('.'));
  }
  return out;
}

export async function readHostsContext(resolvConf: string): Promise<HostsContext> {
  const read = (p: string) => readFile(p, 'utf8').catch(() => '');
  const [route, resolv] = await Promise.all([read('/proc/net/route'), read(resolvConf)]);
  const searchDomains = resolv
    .split('\n')
    .flatMap((l) => /^\s*(?:search|domain)\s+(.+)$/.exec(l)?.[1]?.trim().split(/\s+/) ?? [])
    .map((d) => d.toLowerCase().replace(/\.$/, ''));
  return { hostname: hostname(), gateways: parseProcRoute(route), nameservers: parseResolvConf(resolv).map((s) => s.host), searchDomains };
}
