/**
 * Domain-name rules: what counts as a domain to check, which names are localhost or special-use
 * (RFC 6761 and later reservations), the forgotten trailing dot. Pure. (The registrable domain is
 * shared's `registrableDomain`.)
 */
import { isIP } from 'node:net';
import { literalAddress } from './address.js';

/** Lower-cases a name and drops one trailing dot (`Example.COM.` → `example.com`). */
export function normalizeName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

/** Why `name` is not a domain we can check, or null when it is one (RFC 1035 lengths, LDH-ish labels). */
export function domainProblem(raw: string): string | null {
  const name = raw.trim();
  if (name === '') return 'empty name';
  if (/\s/.test(name)) return 'contains white space';
  if (isIP(name) || isIP(name.replace(/^\[|\]$/g, ''))) return 'is an IP address, not a domain';
  const n = normalizeName(name);
  if (n === '.' || n === '') return 'is the root, not a domain';
  if (n.length > 253) return `is ${n.length} characters long (at most 253)`;
  for (const label of n.split('.')) {
    if (label === '') return 'has an empty label (two dots in a row)';
    if (label.length > 63) return `has a label of ${label.length} characters (at most 63)`;
    // underscores appear in real names (_dmarc…); anything else outside LDH is a typo or an attack
    if (!/^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/.test(label)) return `label '${label}' has characters a host name cannot have`;
  }
  if (!n.includes('.')) return 'is a single label (a domain to check has a dot: example.com)';
  return null;
}

export function isLocalhostName(name: string): boolean {
  const n = normalizeName(name);
  return n === 'localhost' || n.endsWith('.localhost');
}

/**
 * TLDs that never resolve in the global DNS: RFC 6761 .invalid, RFC 6762 .local (mDNS only), RFC
 * 7686 .onion, RFC 9476 .alt. `.test` and `.example` are ordinary names to a resolver (RFC 6761
 * §6.2, §6.5) and `.localhost` is handled as loopback, so none of them is listed here.
 */
const NEVER_RESOLVES = new Set(['invalid', 'local', 'onion', 'alt']);

/** The special-use TLD `name` is under, when that TLD never resolves; otherwise null. */
export function specialUseTld(name: string): string | null {
  const labels = normalizeName(name).split('.');
  const tld = labels[labels.length - 1] ?? '';
  return NEVER_RESOLVES.has(tld) ? tld : null;
}

/**
 * Whether an exchange name is written as an address (`MX 10 192.0.2.1`, `MX 10 [192.0.2.1]`,
 * `MX 10 127.1`; see literalAddress), or looks like one without being valid (`999.0.0.1`).
 */
export function isIpLiteral(name: string): boolean {
  const n = normalizeName(name).replace(/^\[|\]$/g, '');
  return literalAddress(name) !== null || /^\d+\.\d+\.\d+\.\d+$/.test(n);
}

/**
 * `mx.example.com.example.com` in the zone of example.com: a name written without its trailing dot
 * got the origin appended. Detected when, after removing the checked domain (or the exchange's own
 * last two labels), what is left still ends with the exchange's TLD.
 */
export function looksLikeMissingTrailingDot(exchange: string, domain: string): boolean {
  const x = normalizeName(exchange);
  // 10.10.10.10 or 0.0.0.0 end in their own "TLD" twice: an address, not a forgotten dot
  if (isIpLiteral(x)) return false;
  const labels = x.split('.');
  const tld = labels[labels.length - 1];
  if (!tld || labels.length < 4) return false;
  const origins = [normalizeName(domain), labels.slice(-2).join('.')];
  return origins.some((origin) => {
    if (!x.endsWith(`.${origin}`)) return false;
    const rest = x.slice(0, -(origin.length + 1)).split('.');
    const last = rest[rest.length - 1];
    return rest.length >= 2 && last === tld;
  });
}
