/**
 * Name resolution for the config audit: a hosts file (what sendmail reads with confHOSTS_FILE and
 * `hosts files`), or DNS servers the user names. Never the machine's default resolver.
 */
import { Resolver as DnsResolver } from 'node:dns/promises';
import { UserError, canonicalAddress, parseHostsFile, parseServerAddress, serverLabel } from '@toolbox/shared';
import type { Resolver } from './sendmail-config.js';

/**
 * A resolver over hosts-file text: first name on a line is the reverse name, as glibc does. Addresses
 * are looked up by their canonical form, so `2001:DB8:0::1` in the file answers for `2001:db8::1`.
 */
export function hostsResolver(text: string): Resolver {
  const byName = new Map<string, string[]>();
  const byAddr = new Map<string, string[]>();
  for (const { address, names } of parseHostsFile(text)) {
    for (const n of names) byName.set(n, [...(byName.get(n) ?? []), address]);
    const key = canonicalAddress(address) ?? address;
    byAddr.set(key, [...(byAddr.get(key) ?? []), ...names]);
  }
  return {
    forward: (name) => Promise.resolve(byName.get(name.toLowerCase().replace(/\.$/, '')) ?? []),
    reverse: (ip) => Promise.resolve((byAddr.get(canonicalAddress(ip) ?? ip) ?? []).slice(0, 1)),
    mx: () => Promise.resolve([]),
  };
}

/** `--resolver IP[:PORT]` (IPv6 as [IP]:PORT or bare) as node:dns takes it: `IP:PORT`, `[IPv6]:PORT`. */
export function parseResolverAddress(value: string): string {
  const addr = parseServerAddress(value);
  if (addr === null)
    throw new UserError('E_RESOLVER', `--resolver '${value}' is not IP[:PORT] (an IPv6 address with a port is written [::1]:5353)`);
  return serverLabel(addr);
}

/**
 * A DNS resolver over the servers given (`--resolver`, repeatable), asked in order — the next when
 * one does not answer, as with resolv.conf — with a per-query timeout.
 */
export function dnsResolver(servers: readonly string[], timeoutMs: number): Resolver {
  const r = new DnsResolver({ timeout: timeoutMs, tries: 1 });
  r.setServers(servers.map(parseResolverAddress));
  const server = servers.join(', ');
  const empty = (err: unknown): string[] => {
    const code = (err as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'ENONAME') return [];
    throw new UserError('E_RESOLVER', `resolver ${server}: ${(err as Error).message}`);
  };
  return {
    async forward(name) {
      const a = await r.resolve4(name).catch(empty);
      const aaaa = await r.resolve6(name).catch(empty);
      return [...a, ...aaaa];
    },
    reverse: (ip) => r.reverse(ip).catch(empty),
    mx: async (domain) => (await r.resolveMx(domain).catch(() => [])).map((m) => m.exchange),
  };
}
