/**
 * The main command: reads the list, sets up resolvers, runs the checks, prints, and sets the exit
 * code (0 nothing reaches --fail-on, 1 something does, 2 usage or no resolver answered, 130
 * interrupted: the results obtained are printed, and how many domains were not checked).
 */
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { ExitCode, parseCidr, parseServerAddress, printable, UserError, type CliIo, type Cidr, type ServerAddr } from '@toolbox/shared';
import { AuthChecker } from '../auth/gather.js';
import { authJson, authTableLines } from '../auth/output.js';
import { checkDomains, type CheckResult, type CheckSummary } from '../check/check.js';
import { verdictRank, type Verdict } from '../classify/classify-mx.js';
import { buildDomainList, parseListText } from '../check/domain-list.js';
import { jsonObject, summaryLine, TABLE_HEADER, tableRow } from '../output/output.js';
import { DnsResolver, parseResolvConf, rejectedAnswers } from '../dns/resolver.js';

export interface MxCommandOptions {
  file?: string;
  resolver?: string[];
  resolvConf: string;
  resolution: 'dns' | 'system';
  json: boolean;
  concurrency: number;
  timeout: number;
  retries: number;
  /** DNS 0x20: random case in question names, echoed exactly by every answer taken. */
  '0x20'?: boolean;
  failOn: 'warn' | 'fail';
  treatAsGlobal?: string[];
  /** Also ask each authoritative server of the domain's zone directly (auth/gather.ts). */
  authoritative?: boolean;
}

export interface MxCommandDeps {
  readStdin?: () => Promise<string>;
  systemLookup?: (name: string) => Promise<{ address: string }[]>;
  /** Aborted on Ctrl-C: no new query is sent, the results obtained are printed, exit 130. */
  signal?: AbortSignal;
}

/**
 * Result lines go out in one write per turn of the event loop (a burst of answers), not one system
 * call per domain; every write holds whole lines, so output cut short stays valid JSON lines.
 */
function lineBatcher(out: Writable): { write(text: string): void; flush(): void } {
  let buffered = '';
  let isScheduled = false;
  const flush = () => {
    isScheduled = false;
    if (buffered === '') return;
    const text = buffered;
    buffered = '';
    out.write(text);
  };
  return {
    write(text: string) {
      buffered += text;
      if (!isScheduled) {
        isScheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function resolverServers(opts: MxCommandOptions): Promise<ServerAddr[][]> {
  if (opts.resolver && opts.resolver.length > 0) {
    return opts.resolver.map((r) => {
      const s = parseServerAddress(r);
      if (!s) throw new UserError('E_RESOLVER', `--resolver '${r}' is not IP[:PORT] (an IPv6 address with a port is written [::1]:5353)`);
      return [s];
    });
  }
  let text: string;
  try {
    text = await readFile(opts.resolvConf, 'utf8');
  } catch (err) {
    throw new UserError('E_RESOLV_CONF', `cannot read ${opts.resolvConf}: ${(err as Error).message}; give --resolver IP[:PORT]`);
  }
  const servers = parseResolvConf(text);
  if (servers.length === 0) throw new UserError('E_RESOLV_CONF', `${opts.resolvConf} has no nameserver line; give --resolver IP[:PORT]`);
  // the resolv.conf servers are one resolver with fail-over, not views to compare
  return [servers];
}

export async function runMxCheck(names: readonly string[], opts: MxCommandOptions, io: CliIo, deps: MxCommandDeps = {}): Promise<void> {
  const treatAsGlobal: Cidr[] = (opts.treatAsGlobal ?? []).map((t) => {
    const c = parseCidr(t);
    if (!c) throw new UserError('E_CIDR', `--treat-as-global '${t}' is not a CIDR range (192.0.2.0/24, 2001:db8::/32)`);
    return c;
  });
  const all = [...names];
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = opts.file === '-' ? await (deps.readStdin ?? (() => readAll(process.stdin)))() : await readFile(opts.file, 'utf8');
    } catch (err) {
      throw new UserError('E_LIST', `cannot read the domain list ${opts.file}: ${(err as Error).message}`);
    }
    all.push(...parseListText(text));
  }
  const list = buildDomainList(all);
  if (list.entries.length === 0) {
    throw new UserError('E_NO_DOMAINS', `no domains to check: give DOMAIN arguments or --file LIST (${opts.file ?? 'no list'} had none)`);
  }
  for (const [name, n] of list.duplicates) io.stderr.write(`mx-check: ${printable(name)} given ${n} times: checked once\n`);
  for (const e of list.entries)
    if (e.problem !== null) io.stderr.write(`mx-check: '${printable(e.input)}' is not a domain: ${printable(e.problem)}\n`);

  const resolvers = (await resolverServers(opts)).map(
    (servers) =>
      new DnsResolver({ servers, timeoutMs: opts.timeout, retries: opts.retries, signal: deps.signal, randomCase: opts['0x20'] === true }),
  );
  // the zone's NS set and the servers' addresses come through the first resolver, as the report does
  const firstResolver = resolvers[0] as DnsResolver;
  const auth = opts.authoritative
    ? new AuthChecker((name, type) => firstResolver.query(name, type), {
        timeoutMs: opts.timeout,
        retries: opts.retries,
        signal: deps.signal,
      })
    : undefined;
  const started = performance.now();
  const counts = new Map<Verdict, number>();
  let worst = 0;
  let anyWarnFinding = false;
  if (!opts.json) io.stdout.write(`${TABLE_HEADER}\n`);
  const lines = lineBatcher(io.stdout);
  let summary: CheckSummary;
  try {
    summary = await checkDomains(
      list.entries,
      {
        resolvers,
        resolution: opts.resolution,
        concurrency: opts.concurrency,
        timeoutMs: opts.timeout,
        treatAsGlobal,
        systemLookup: deps.systemLookup,
        signal: deps.signal,
        authoritative: auth ? (domain) => auth.check(domain) : undefined,
      },
      (r: CheckResult) => {
        counts.set(r.verdict, (counts.get(r.verdict) ?? 0) + 1);
        worst = Math.max(worst, verdictRank(r.verdict));
        if (r.findings.some((f) => f.severity !== 'info')) anyWarnFinding = true;
        const withAuth = r.authoritative ? { ...jsonObject(r), authoritative: authJson(r.authoritative) } : jsonObject(r);
        lines.write(opts.json ? `${JSON.stringify(withAuth)}\n` : tableRow(r) + authTableLines(r.authoritative));
      },
    );
  } finally {
    lines.flush();
    for (const r of resolvers) r.close();
  }
  if (!opts.json) io.stdout.write(`${summaryLine(counts, summary.checked, (performance.now() - started) / 1000)}\n`);
  if (summary.isInterrupted) {
    io.stderr.write(
      `mx-check: interrupted: ${summary.checked} of ${list.entries.length} domain(s) checked, ${summary.notChecked} not checked\n`,
    );
    io.setExitCode(ExitCode.Interrupted);
    return;
  }

  const asked = resolvers.filter((r) => r.stats.queries > 0);
  const silent = asked.filter((r) => r.stats.answered === 0);
  if (asked.length > 0 && silent.length === asked.length) {
    const ignored = silent.reduce((n, r) => n + rejectedAnswers(r.stats), 0);
    io.stderr.write(
      `mx-check: no resolver answered (${silent.map((r) => r.label).join(', ')}: ${silent.reduce((n, r) => n + r.stats.timeouts, 0)} queries timed out${ignored > 0 ? `, ${ignored} bad answers ignored` : ''})\n`,
    );
    io.setExitCode(ExitCode.Usage);
    return;
  }
  const rejected = rejectedAnswersLine(resolvers);
  if (rejected) io.stderr.write(rejected);
  const threshold = opts.failOn === 'warn' ? 1 : 2;
  if (worst >= threshold || (threshold === 1 && anyWarnFinding)) io.setExitCode(ExitCode.Findings);
}

/**
 * What answers were received and ignored, in one stderr line (none when nothing was): forgeries
 * land here — from an address or port not asked, under an ID not awaited, with another question —
 * beside late duplicates and garbage.
 */
export function rejectedAnswersLine(resolvers: readonly DnsResolver[]): string {
  const sum = (pick: (r: DnsResolver) => number) => resolvers.reduce((n, r) => n + pick(r), 0);
  const total = sum((r) => rejectedAnswers(r.stats));
  if (total === 0) return '';
  const caseOnly = sum((r) => r.stats.caseMismatched);
  return (
    `mx-check: ${total} answer(s) rejected: ${sum((r) => r.stats.wrongSource)} from an address or port not asked, ` +
    `${sum((r) => r.stats.unexpected)} with an ID not awaited (late or forged), ` +
    `${sum((r) => r.stats.mismatched)} with another question${caseOnly > 0 ? ` (${caseOnly} in another case: 0x20)` : ''}, ` +
    `${sum((r) => r.stats.garbage)} undecodable\n`
  );
}
