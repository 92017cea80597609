/**
 * Gathers the facts about each domain (MX, then the exchanges' addresses, the registrable domain
 * of names that do not exist, SPF beside a null MX) through a resolver, classifies them, and
 * compares views when several resolvers are given. Bounded concurrency; results in input order.
 */
import { lookup as systemLookup } from 'node:dns/promises';
import type { Answer, RecordType } from 'dns-packet';
import { errorMessage, limiter, registrableDomain, type Cidr } from '@toolbox/shared';
import {
  classifyDomain,
  mxRecordText,
  type AddressLookup,
  type Classification,
  type DomainFacts,
  type Finding,
  type LookupStatus,
  type MxRecord,
  type MxView,
  type Verdict,
} from '../classify/classify-mx.js';
import type { ListEntry } from './domain-list.js';
import { withAuthoritative, type AuthReport } from '../auth/compare.js';
import { isLocalhostName, isIpLiteral, normalizeName, specialUseTld } from '../classify/names.js';
import { DnsInterruptedError, DnsTimeoutError, type DnsResolver, type DnsResponse } from '../dns/resolver.js';

export interface CheckResult {
  domain: string;
  verdict: Verdict;
  findings: Finding[];
  mx: MxView[];
  resolver: string;
  ms: number;
  views?: { resolver: string; verdict: Verdict; mx: MxView[] }[];
  /** With --authoritative: what each authoritative server said. */
  authoritative?: AuthReport;
}

export interface CheckOptions {
  resolvers: readonly DnsResolver[];
  resolution: 'dns' | 'system';
  concurrency: number;
  timeoutMs: number;
  treatAsGlobal: readonly Cidr[];
  /** Injected for tests of --resolution system; defaults to getaddrinfo through node:dns. */
  systemLookup?: (name: string) => Promise<{ address: string }[]>;
  now?: () => number;
  /**
   * Once aborted, no new domain is started and no new query is sent; the domains in flight end
   * with the answers to queries already sent (bounded by the timeout) or are counted as not checked.
   */
  signal?: AbortSignal;
  /** --authoritative: asks the zone's servers directly; resolves for every domain (rejects only when interrupted). */
  authoritative?: (domain: string) => Promise<AuthReport>;
}

/** What checkDomains did: `checked` results were handed over, the others were not checked. */
export interface CheckSummary {
  checked: number;
  notChecked: number;
  isInterrupted: boolean;
}

const MAX_CNAME_HOPS = 8;
const CACHE_LIMIT = 10_000;

/**
 * Lookups that many domains share, asked once: a lookup in flight is joined, not asked again. The
 * oldest entry goes when the cache is full, so that memory stays bounded on any list.
 */
class SharedLookups<T> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(private readonly limit: number) {}

  get(key: string, lookup: () => Promise<T>): Promise<T> {
    let p = this.entries.get(key);
    if (!p) {
      if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
      p = lookup();
      this.entries.set(key, p);
    }
    return p;
  }
}

/** An interruption is no finding about the domain: it leaves the domain unchecked. */
function rethrowInterrupted(err: unknown): void {
  if (err instanceof DnsInterruptedError) throw err;
}

/**
 * One resolver's view. Each domain's own MX, TXT and addresses are asked once (the list is
 * de-duplicated); what domains share, exchanges and registrable domains, is cached.
 */
class Gatherer {
  private readonly exchangeLookups = new SharedLookups<AddressLookup>(CACHE_LIMIT);
  private readonly missingLookups = new SharedLookups<boolean>(CACHE_LIMIT);

  constructor(
    readonly resolver: DnsResolver,
    private readonly opts: CheckOptions,
  ) {}

  ask(name: string, type: RecordType): Promise<DnsResponse> {
    return this.resolver.query(name, type);
  }

  async facts(domain: string): Promise<DomainFacts> {
    const exchanges = new Map<string, AddressLookup>();
    const missingDomains = new Set<string>();
    const facts: DomainFacts = { domain, mx: { status: 'ok', records: [] }, exchanges, missingDomains };
    let mx: DnsResponse;
    try {
      mx = await this.ask(domain, 'MX');
    } catch (err) {
      rethrowInterrupted(err);
      facts.mx = { status: 'error', records: [], error: errorMessage(err) };
      return facts;
    }
    if (mx.rcode === 'NXDOMAIN') {
      facts.mx = { status: 'nxdomain', records: [] };
      return facts;
    }
    if (mx.rcode !== 'NOERROR') {
      facts.mx = { status: 'error', records: [], error: `${mx.rcode} from ${mx.server}` };
      return facts;
    }
    const records: MxRecord[] = mx.answers
      .filter((a): a is Answer & { type: 'MX' } => a.type === 'MX')
      .map((a) => ({ preference: a.data.preference ?? 0, exchange: a.data.exchange }));
    facts.mx = { status: records.length > 0 ? 'ok' : 'nodata', records };
    if (records.length === 0) {
      facts.implicit = await this.addresses(domain);
      return facts;
    }
    const names = [...new Set(records.map((r) => normalizeName(r.exchange)).filter((n) => n !== '' && n !== '.'))];
    const asks = names
      .filter((n) => !isIpLiteral(n) && !isLocalhostName(n) && specialUseTld(n) === null)
      .map(async (n) => {
        const look = await this.exchangeLookups.get(n, () => this.addresses(n));
        exchanges.set(n, look);
        const final = look.cname[look.cname.length - 1] ?? n;
        const reg = registrableDomain(final);
        if (look.status === 'nxdomain' && reg !== registrableDomain(domain) && (await this.isMissing(reg))) missingDomains.add(reg);
      });
    if (records.some((r) => r.exchange === '' || r.exchange === '.')) asks.push(this.spf(domain).then((s) => void (facts.spf = s)));
    await Promise.all(asks);
    return facts;
  }

  private isMissing(name: string): Promise<boolean> {
    return this.missingLookups.get(name, async () => {
      try {
        return (await this.ask(name, 'SOA')).rcode === 'NXDOMAIN';
      } catch (err) {
        rethrowInterrupted(err);
        return false;
      }
    });
  }

  private async spf(domain: string): Promise<string[]> {
    try {
      const r = await this.ask(domain, 'TXT');
      return r.answers
        .filter((a): a is Answer & { type: 'TXT' } => a.type === 'TXT')
        .map((a) => (Array.isArray(a.data) ? a.data : [a.data]).map((d) => d.toString()).join(''))
        .filter((t) => /^v=spf1(\s|$)/i.test(t));
    } catch (err) {
      rethrowInterrupted(err);
      return [];
    }
  }

  /** A and AAAA of a name, following CNAMEs (also across answers) up to a limit. */
  async addresses(name: string): Promise<AddressLookup> {
    if (this.opts.resolution === 'system') return this.systemAddresses(name);
    const cname: string[] = [];
    let current = name;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      const [a, aaaa] = await Promise.all([settle(this.ask(current, 'A')), settle(this.ask(current, 'AAAA'))]);
      rethrowInterrupted(a);
      rethrowInterrupted(aaaa);
      const ok = [a, aaaa].filter((r): r is DnsResponse => !(r instanceof Error) && (r.rcode === 'NOERROR' || r.rcode === 'NXDOMAIN'));
      const failed = [a, aaaa].filter((r) => r instanceof Error || (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN'));
      const answers = ok.flatMap((r) => r.answers);
      let final = current;
      for (let i = 0; i < MAX_CNAME_HOPS; i++) {
        const c = answers.find((x) => x.type === 'CNAME' && normalizeName(x.name) === final);
        if (!c || c.type !== 'CNAME') break;
        final = normalizeName(c.data);
        cname.push(final);
      }
      const addresses = [
        ...new Set(
          answers
            .filter(
              (x): x is Answer & { type: 'A' | 'AAAA'; data: string } =>
                (x.type === 'A' || x.type === 'AAAA') && normalizeName(x.name) === final,
            )
            .map((x) => x.data),
        ),
      ];
      if (addresses.length > 0) return { status: 'ok', addresses, cname };
      if (isLocalhostName(final)) return { status: 'ok', addresses: [], cname };
      if (failed.length > 0) {
        const why = failed.map((f) => (f instanceof Error ? f.message : `${f.rcode} from ${f.server}`)).join('; ');
        return { status: 'error', addresses: [], cname, error: why };
      }
      if (final !== current && ok.every((r) => r.rcode === 'NOERROR')) {
        current = final;
        continue;
      }
      const status: LookupStatus = ok.some((r) => r.rcode === 'NXDOMAIN') ? 'nxdomain' : 'nodata';
      return { status, addresses: [], cname };
    }
    return { status: 'error', addresses: [], cname, error: `more than ${MAX_CNAME_HOPS} CNAMEs in a row` };
  }

  private async systemAddresses(name: string): Promise<AddressLookup> {
    if (this.opts.signal?.aborted) throw new DnsInterruptedError(`getaddrinfo(${name}) not called: interrupted`);
    const look = this.opts.systemLookup ?? ((n: string) => systemLookup(n, { all: true, verbatim: true }));
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new DnsTimeoutError(`getaddrinfo(${name}) gave no answer within ${this.opts.timeoutMs} ms`)),
          this.opts.timeoutMs,
        );
      });
      const found = await Promise.race([look(name), timeout]);
      return { status: 'ok', addresses: [...new Set(found.map((f) => f.address))], cname: [] };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND') return { status: 'nxdomain', addresses: [], cname: [] };
      if (code === 'ENODATA') return { status: 'nodata', addresses: [], cname: [] };
      return { status: 'error', addresses: [], cname: [], error: errorMessage(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function settle<T>(p: Promise<T>): Promise<T | Error> {
  return p.catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
}

/** What the records look like to compare views: MX set and the addresses of each target. */
function signature(mx: readonly MxView[]): string {
  return mx
    .map((m) => `${m.preference} ${m.exchange} [${[...m.addresses].sort().join(',')}]`)
    .sort()
    .join('; ');
}

/** Invalid input becomes a result of its own: a clear message, verdict error. */
export function invalidResult(entry: ListEntry): CheckResult {
  return {
    domain: entry.input,
    verdict: 'error',
    findings: [{ code: 'INVALID_NAME', severity: 'fail', record: null, detail: `not a domain: ${entry.problem ?? 'invalid'}` }],
    mx: [],
    resolver: '',
    ms: 0,
  };
}

/**
 * Checks every entry, at most `concurrency` at once, and hands results over in input order; at
 * most `outputWindow` results wait for an earlier, slower domain, so memory stays bounded. When
 * `signal` is aborted, the results obtained are still handed over (in input order, skipping the
 * domains that could not be finished) and the summary says how many were not checked.
 */
export async function checkDomains(
  entries: readonly ListEntry[],
  opts: CheckOptions,
  onResult: (r: CheckResult) => void,
): Promise<CheckSummary> {
  const now = opts.now ?? (() => performance.now());
  const gatherers = opts.resolvers.map((r) => new Gatherer(r, opts));
  const outputWindow = Math.max(1024, opts.concurrency * 4);
  // null: not checked (interrupted)
  const done = new Map<number, CheckResult | null>();
  let nextOut = 0;
  let checked = 0;
  let waiting: (() => void)[] = [];
  const wakeWaiting = () => {
    const w = waiting;
    waiting = [];
    for (const wake of w) wake();
  };
  const flush = () => {
    const before = nextOut;
    while (done.has(nextOut)) {
      const r = done.get(nextOut);
      done.delete(nextOut++);
      if (r) {
        checked++;
        onResult(r);
      }
    }
    if (nextOut !== before) wakeWaiting();
  };
  const isAborted = () => opts.signal?.aborted === true;
  opts.signal?.addEventListener('abort', wakeWaiting, { once: true });
  const one = async (entry: ListEntry): Promise<CheckResult | null> => {
    if (entry.domain === null) return invalidResult(entry);
    const started = now();
    let views: { g: Gatherer; c: Classification }[];
    let auth: AuthReport | undefined;
    try {
      [views, auth] = await Promise.all([
        Promise.all(gatherers.map(async (g) => ({ g, c: classifyDomain(await g.facts(entry.domain as string), opts.treatAsGlobal) }))),
        opts.authoritative?.(entry.domain),
      ]);
    } catch (err) {
      if (err instanceof DnsInterruptedError) return null;
      throw err;
    }
    const first = views[0] as { g: Gatherer; c: Classification };
    const result: CheckResult = {
      domain: entry.domain,
      verdict: first.c.verdict,
      findings: first.c.findings,
      mx: first.c.mx,
      resolver: first.g.resolver.label,
      ms: Math.round(now() - started),
    };
    if (views.length > 1) {
      result.views = views.map((v) => ({ resolver: v.g.resolver.label, verdict: v.c.verdict, mx: v.c.mx }));
      const base = signature(first.c.mx);
      const differing = views.slice(1).filter((v) => signature(v.c.mx) !== base || v.c.verdict !== first.c.verdict);
      if (differing.length > 0) {
        const show = (v: { g: Gatherer; c: Classification }) =>
          `${v.g.resolver.label}: ${v.c.verdict}, ${v.c.mx.map((m) => `${mxRecordText(m)} [${m.addresses.join(',')}]`).join(' ') || 'no MX'}`;
        result.findings = [
          ...result.findings,
          {
            code: 'VIEWS_DIFFER',
            severity: 'warn',
            record: null,
            detail: `resolvers disagree: ${[first, ...differing].map(show).join(' | ')}`,
          },
        ];
        if (result.verdict === 'ok') result.verdict = 'warn';
      }
    }
    return auth ? withAuthoritative(result, auth) : result;
  };
  const limit = limiter(Math.max(1, opts.concurrency));
  // the first error of a check (a bug, not a DNS failure): no more domains start, it is rethrown
  let failure: { error: unknown } | null = null;
  const pending = new Set<Promise<void>>();
  try {
    for (let i = 0; i < entries.length; i++) {
      while (i - nextOut >= outputWindow && !isAborted() && failure === null) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      if (isAborted() || failure !== null) break;
      const task = limit(async () => {
        // queued before Ctrl-C or a failure, started after: not checked
        if (isAborted() || failure !== null) return;
        done.set(i, await one(entries[i] as ListEntry));
        flush();
      })
        .catch((error: unknown) => {
          failure ??= { error };
          wakeWaiting();
        })
        .finally(() => pending.delete(task));
      pending.add(task);
    }
    await Promise.all([...pending]);
  } finally {
    opts.signal?.removeEventListener('abort', wakeWaiting);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  flush();
  return { checked, notChecked: entries.length - checked, isInterrupted: checked < entries.length };
}
