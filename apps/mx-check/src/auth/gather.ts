/**
 * `--authoritative`: finds the zone a domain's MX records live in and its NS set through the
 * configured (recursive) resolver, the name servers' addresses likewise, then asks every address
 * of every name server directly, without recursion, for the zone's SOA and the domain's MX set.
 * Never fails for a domain: what goes wrong becomes part of the report (compare.ts judges it);
 * only an interruption (DnsInterruptedError) is passed on, leaving the domain unchecked.
 */
import type { Answer, RecordType } from 'dns-packet';
import { errorMessage } from '@toolbox/shared';
import { normalizeName } from '../classify/names.js';
import { DnsInterruptedError, type DnsResponse } from '../dns/resolver.js';
import type { AuthReport, LameHow, ServerAnswer } from './compare.js';
import { directQuery, type DirectQueryOptions, type DirectResult, type DirectServer } from './query.js';

/** A question to the configured resolver (DnsResolver.query). */
export type ResolverAsk = (name: string, type: RecordType) => Promise<DnsResponse>;
export type DirectAsk = (server: DirectServer, name: string, type: RecordType, opts: DirectQueryOptions) => Promise<DirectResult>;

export interface AuthCheckerOptions {
  timeoutMs: number;
  retries: number;
  signal?: AbortSignal;
  /** Port the authoritative servers are asked on (53; another only in labs and tests). */
  port?: number;
  /** Injected in unit tests; directQuery otherwise. */
  direct?: DirectAsk;
}

interface NsHost {
  addresses: string[];
  /** Why there is no address. */
  why?: string;
}

const CACHE_LIMIT = 10_000;
/**
 * Direct questions in flight at once: each holds a socket of its own, and a list of domains with
 * many servers each must not run out of descriptors (which would look like lame servers).
 */
const MAX_DIRECT_IN_FLIGHT = 512;
/** More than any name has labels (127): a loop bound, not a limit anyone reaches. */
const MAX_STEPS = 130;

/** Lower case, no final dot; the root is `.` however the packet spelled it. */
const canon = (name: string): string => normalizeName(name) || '.';

function rethrowInterrupted(err: unknown): void {
  if (err instanceof DnsInterruptedError) throw err;
}

function parentOf(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 || name === '.' ? '.' : name.slice(dot + 1);
}

const isAtOrAbove = (zone: string, name: string): boolean => zone === '.' || name === zone || name.endsWith(`.${zone}`);

const nsOwnedBy = (records: readonly Answer[], owner: string): string[] =>
  records.filter((a): a is Answer & { type: 'NS'; data: string } => a.type === 'NS' && canon(a.name) === owner).map((a) => canon(a.data));

function mxText(a: Answer): string | null {
  if (a.type === 'MX') {
    return `${a.data.preference ?? 0} ${canon(a.data.exchange)}`;
  }
  return a.type === 'CNAME' ? `CNAME ${canon(a.data)}` : null;
}

/** Sorted as a zone file lists them: by preference, then name. */
function sortMx(records: string[]): string[] {
  const key = (r: string): [number, string] => {
    const [pref, ...rest] = r.split(' ');
    const n = Number(pref);
    return Number.isNaN(n) ? [-1, r] : [n, rest.join(' ')];
  };
  return [...new Set(records)].sort((a, b) => {
    const [pa, na] = key(a);
    const [pb, nb] = key(b);
    return pa - pb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
}

export class AuthChecker {
  private readonly hosts = new Map<string, Promise<NsHost>>();
  private readonly port: number;
  private readonly direct: DirectAsk;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly ask: ResolverAsk,
    private readonly opts: AuthCheckerOptions,
  ) {
    this.port = opts.port ?? 53;
    this.direct = opts.direct ?? directQuery;
  }

  async check(domain: string): Promise<AuthReport> {
    try {
      const found = await this.findNs(domain);
      if ('error' in found) return { zone: null, ns: [], servers: [], unresolvable: [], error: found.error };
      const hosts = await Promise.all(found.ns.map(async (ns) => ({ ns, host: await this.nsHost(ns) })));
      const unresolvable = hosts.filter((h) => h.host.addresses.length === 0).map((h) => ({ ns: h.ns, why: h.host.why ?? 'no address' }));
      const servers = await Promise.all(
        hosts.flatMap((h) => h.host.addresses.map((address) => this.askServer(h.ns, address, found.zone, domain))),
      );
      return { zone: found.zone, ns: found.ns, servers, unresolvable };
    } catch (err) {
      rethrowInterrupted(err);
      return { zone: null, ns: [], servers: [], unresolvable: [], error: errorMessage(err) };
    }
  }

  /**
   * The NS set of the zone holding `domain`: from the NS answer, from a referral's authority section
   * (a resolver that is itself only authoritative for the parent), or, when the name is no zone
   * apex, from the zone the SOA in a negative answer names; otherwise one label up.
   */
  private async findNs(domain: string): Promise<{ zone: string; ns: string[] } | { error: string }> {
    let name = domain;
    for (let step = 0; step < MAX_STEPS; step++) {
      let r: DnsResponse;
      try {
        r = await this.ask(name, 'NS');
      } catch (err) {
        rethrowInterrupted(err);
        return { error: `${name} NS: ${errorMessage(err)}` };
      }
      if (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN') return { error: `${name} NS: ${r.rcode} from ${r.server}` };
      const ns = r.rcode === 'NOERROR' ? [...new Set([...nsOwnedBy(r.answers, name), ...nsOwnedBy(r.authorities, name)])].sort() : [];
      if (ns.length > 0) return { zone: name, ns };
      const soa = r.authorities.find((a) => a.type === 'SOA');
      const zone = soa ? canon(soa.name) : null;
      if (zone !== null && zone !== name && isAtOrAbove(zone, name)) name = zone;
      else if (name === '.') break;
      else name = parentOf(name);
    }
    return { error: `no NS set found for ${domain} or above` };
  }

  private nsHost(ns: string): Promise<NsHost> {
    let p = this.hosts.get(ns);
    if (!p) {
      if (this.hosts.size >= CACHE_LIMIT) this.hosts.delete(this.hosts.keys().next().value as string);
      p = this.lookupHost(ns);
      this.hosts.set(ns, p);
    }
    return p;
  }

  private async lookupHost(ns: string): Promise<NsHost> {
    const settled = await Promise.all(
      (['A', 'AAAA'] as const).map((t) =>
        this.ask(ns, t).catch((err: unknown) => {
          rethrowInterrupted(err);
          return errorMessage(err);
        }),
      ),
    );
    const addresses = settled.flatMap((r) =>
      typeof r === 'string'
        ? []
        : r.answers
            .filter((a): a is Answer & { type: 'A' | 'AAAA'; data: string } => a.type === 'A' || a.type === 'AAAA')
            .map((a) => a.data),
    );
    if (addresses.length > 0) return { addresses: [...new Set(addresses)] };
    const failed = settled.find((r) => typeof r === 'string' || (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN'));
    if (failed !== undefined)
      return { addresses: [], why: `lookup failed: ${typeof failed === 'string' ? failed : `${failed.rcode} from ${failed.server}`}` };
    return {
      addresses: [],
      why: settled.every((r) => typeof r !== 'string' && r.rcode === 'NXDOMAIN') ? 'NXDOMAIN' : 'no A or AAAA record',
    };
  }

  private async askServer(ns: string, address: string, zone: string, domain: string): Promise<ServerAnswer> {
    const target: DirectServer = { host: address, port: this.port };
    const q = { timeoutMs: this.opts.timeoutMs, retries: this.opts.retries, signal: this.opts.signal };
    const [soa, mx] = await Promise.all([
      this.limited(() => this.direct(target, zone, 'SOA', q)),
      this.limited(() => this.direct(target, domain, 'MX', q)),
    ]);
    const base: ServerAnswer = { ns, address, lame: null, serial: null, rcode: null, mx: null };
    const noRoute = [soa, mx].find((r) => r.kind === 'no_route');
    if (noRoute?.kind === 'no_route') return { ...base, skipped: `not asked: no route from this machine (${noRoute.code})` };
    const lame = this.lameness(soa, zone, 'SOA') ?? this.lameness(mx, domain, 'MX');
    if (lame) return { ...base, lame };
    if (soa.kind !== 'answer' || mx.kind !== 'answer') return base; // unreachable: lameness() covers the other kinds
    const apex = soa.answers.find((a): a is Answer & { type: 'SOA' } => a.type === 'SOA' && canon(a.name) === zone);
    if (!apex)
      return {
        ...base,
        lame: { how: 'no_soa', detail: `its authoritative answer to ${zone} SOA has no SOA record: it does not serve ${zone} as a zone` },
      };
    const records = mx.answers
      .filter((a) => canon(a.name) === domain)
      .map(mxText)
      .filter((t): t is string => t !== null);
    return { ...base, serial: apex.data.serial ?? null, rcode: mx.rcode, mx: sortMx(records) };
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.inFlight >= MAX_DIRECT_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await task();
    } finally {
      // hand the slot straight to the next in line, or free it
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private lameness(r: DirectResult, name: string, type: RecordType): { how: LameHow; detail: string } | null {
    const q = `${name} ${type}`;
    switch (r.kind) {
      case 'timeout':
        return { how: 'timeout', detail: `no answer to ${q} in ${r.attempts} attempt(s) of ${this.opts.timeoutMs} ms` };
      case 'unreachable':
        return r.code === 'ECONNREFUSED'
          ? { how: 'unreachable', detail: `nothing listens on port ${this.port} (ICMP port unreachable to ${q})` }
          : { how: 'unreachable', detail: `${r.code} to ${q}` };
      case 'no_route':
        return null;
      case 'answer': {
        if (r.rcode === 'REFUSED') return { how: 'refused', detail: `REFUSED to ${q}` };
        if (r.rcode === 'SERVFAIL') return { how: 'servfail', detail: `SERVFAIL to ${q}` };
        if (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN') return { how: 'rcode', detail: `${r.rcode} to ${q}` };
        if (r.isAuthoritative) return null;
        const cut = r.authorities.find((a) => a.type === 'NS');
        if (r.answers.length === 0 && cut) {
          const owner = canon(cut.name);
          return {
            how: 'referral',
            detail: `a referral to ${owner} (NS ${nsOwnedBy(r.authorities, owner).sort().join(', ')}) instead of an answer to ${q}`,
          };
        }
        return { how: 'not_authoritative', detail: `an answer to ${q} without the AA bit` };
      }
    }
  }
}
