/**
 * The registrable domain of a name — the part a registrar sells (`example.co.uk` for
 * `mail.example.co.uk`) — from the ICANN section of the Public Suffix List, via tldts. The private
 * section (`github.io`, `blogspot.com`) is left out: those are hosting services, not registries.
 */
import { getDomain } from 'tldts';

/**
 * Lower-cased, trailing dot dropped. A name that has none (a public suffix itself such as `co.uk`,
 * a single label like `localhost`, an IP address) is its own registrable domain.
 */
export function registrableDomain(name: string): string {
  let n = name.trim().toLowerCase();
  if (n.endsWith('.') && n.length > 1) n = n.slice(0, -1);
  return getDomain(n, { extractHostname: false, allowPrivateDomains: false }) ?? n;
}
