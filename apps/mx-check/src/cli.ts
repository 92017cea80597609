/**
 * mx-check command line: commander wiring only; each command is one call into commands/, which calls the core.
 */
import { Command, Option } from 'commander';
import {
  collect,
  durationFlag,
  exitCodeHelp,
  intOption,
  warner,
  packageVersion,
  runCli,
  withDoubleInterrupt,
  type CliIo,
} from '@toolbox/shared/cli';
import { runHosts, type HostsCommandOptions } from './commands/hosts-command.js';
import { runMxCheck, type MxCommandOptions } from './commands/mx-command.js';
import { runSuggest, type SuggestCommandOptions } from './commands/suggest-command.js';

export interface ProgramDeps {
  /** Aborted on the first Ctrl-C. */
  signal?: AbortSignal;
}

export function buildProgram(io: CliIo, deps: ProgramDeps = {}): Command {
  const warn = warner('mx-check', io.stderr);
  const program = new Command('mx-check')
    .description('Inspect domains MX records: null MX, MX to localhost or private addresses, broken forms.')
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run mx-check --help for usage)')
    .argument('[domain...]', 'domains to check (and/or --file)')
    .option('-f, --file <list>', 'read domains from a file, one per line (# comments, blank lines ignored); - is stdin')
    .option('--resolver <ip[:port]>', 'ask this resolver (repeat to compare views); default: the nameservers of --resolv-conf', collect)
    .option('--resolv-conf <file>', 'resolv.conf to take resolvers from', '/etc/resolv.conf')
    .addOption(
      new Option(
        '--resolution <how>',
        'how exchange addresses are found: dns (ask the resolver) or system (getaddrinfo: /etc/hosts counts)',
      )
        .choices(['dns', 'system'])
        .default('dns'),
    )
    .option('--json', 'one JSON object per domain per line', false)
    .option('--concurrency <n>', 'domains checked at once', intOption(1, 4096), 256)
    .addOption(
      durationFlag(
        '--timeout <duration>',
        'timeout of each DNS attempt (500ms, 2s, …)',
        { flag: '--timeout', min: 1, max: 600_000, bareUnit: 'ms', warn },
        2000,
      ),
    )
    .option('--retries <n>', 'attempts after the first one, across the resolvers', intOption(0, 20), 2)
    .option('--0x20', 'random case in each question name; an answer must echo it exactly (DNS 0x20: harder to forge)', false)
    .addOption(new Option('--fail-on <level>', 'exit 1 when a domain reaches this verdict').choices(['warn', 'fail']).default('fail'))
    .option('--treat-as-global <cidr>', 'count this range as public addresses (repeatable; for tests and labs)', collect)
    .option(
      '--authoritative',
      "also ask each of the zone's authoritative servers directly (no recursion) for the MX set and SOA serial: AUTH_DIFFER, AUTH_STALE, AUTH_LAME, AUTH_NS_UNRESOLVABLE make the domain fail",
      false,
    )
    .addHelpText(
      'after',
      `
Verdicts: ok (a usable target, no findings), warn (usable target, with findings), no_mail (null MX
only), fail (no usable target, or a contradiction such as "." beside other MX), error (a lookup
failed). --fail-on warn also counts warnings beside a null MX.

mx-check tells, for one domain or a list of thousands, which domains take mail, which declare
none (RFC 7505 null MX), which point mail at localhost or a private address, and which are broken.
${exitCodeHelp([[130, 'interrupted (Ctrl-C): the results obtained are printed']])}
Exit 2 also when no resolver gave a single answer.`,
    )
    .action((domains: string[], opts: MxCommandOptions) => runMxCheck(domains, opts, io, { signal: deps.signal }));

  program
    .command('hosts')
    .description('names a hosts file aliases to loopback, and the aliases that cut off something that matters')
    .option('--hosts-file <path>', 'hosts file to read', '/etc/hosts')
    .option('--resolv-conf <file>', 'resolv.conf whose name servers and search domains matter', '/etc/resolv.conf')
    .option('--json', 'JSON output', false)
    .addHelpText(
      'after',
      "\nExit codes: 0 no dangerous alias, 1 an alias cuts off the machine's own name, its gateway or a name server, 2 usage.\n",
    )
    .action((opts: HostsCommandOptions) => runHosts(opts, io));

  program
    .command('suggest')
    .description('zone records for a domain (--no-mail: declare it mail-less the standard way)')
    .argument('<domain>', 'the domain')
    .option('--no-mail', 'records that say the domain receives and sends no mail')
    .option('--json', 'JSON output', false)
    .action((domain: string, opts: SuggestCommandOptions) => runSuggest(domain, opts, io));
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await withDoubleInterrupt(
    {
      tool: 'mx-check',
      firstMessage: 'mx-check: interrupted: no new queries; waiting for those in flight (Ctrl-C again to stop at once)\n',
    },
    (signal) => runCli('mx-check', (io) => buildProgram(io, { signal }), argv),
  );
}
