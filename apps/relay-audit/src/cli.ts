/**
 * relay-audit command line: commander wiring only; the work lives in commands/ and the layers below it.
 */
import { Command } from 'commander';
import { collect, durationFlag, exitCodeHelp, intOption, packageVersion, runCli, warner, type CliIo } from '@toolbox/shared/cli';
import { runConfigCommand, type ConfigCommandOptions } from './commands/config-command.js';
import { EXIT_INCONCLUSIVE, runProbeCommand, type ProbeCommandOptions } from './commands/probe-command.js';
import { runExplainCommand, type ExplainCommandOptions } from './commands/explain-command.js';

export function buildProgram(io: CliIo): Command {
  const warn = warner('relay-audit', io.stderr);
  const program = new Command('relay-audit')
    .description('Find open mail relays: probe an MTA from many vantage hosts and audit sendmail config.')
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run relay-audit --help for usage)')
    .addHelpText(
      'after',
      `
relay-audit connects from each vantage host (an SSH channel opened there, or a bound source
address), tries the classic relay tricks, and reads sendmail access, relay-domains and
sendmail.mc to say which hosts may relay.
${exitCodeHelp([[EXIT_INCONCLUSIVE, 'probe: no relay found, but a vantage or probe could not finish (inconclusive); explain: the same, and nothing disagrees']])}`,
    );

  program
    .command('probe')
    .description('run the relay battery against one MTA from every vantage; exit 1 when it relays')
    .requiredOption('--target <host[:port]>', 'the MTA to probe, by IP address (port 25 by default)')
    .option('--vantage <ssh-url>', 'probe from this host through an SSH channel: ssh://[user@]host[:port] (repeatable)', collect, [])
    .option('--source-ip <ip>', 'probe from this local source address (repeatable)', collect, [])
    .option('--ext-domain <domain>', 'the external domain the probes try to relay to (a reserved one: .test, .example, .invalid)')
    .option('--from <localpart>', 'local part of the forged senders', 'relay-audit')
    .option('--ehlo <name>', 'EHLO name; the first is ours, more are tried as variants (repeatable)', collect, [])
    .option('--via-domain <domain>', 'a destination domain the MTA relays to, to route through (repeatable)', collect, [])
    .option('--starttls', 'STARTTLS before MAIL (the certificate is checked only before --auth sends a password)', false)
    .option(
      '--auth <user>',
      'AUTH PLAIN as this user first, only inside TLS whose certificate verified; password from RELAY_AUDIT_PASSWORD',
    )
    .option('--tls-ca <file>', "CA certificates (PEM) the MTA's certificate must chain to (default: Node's built-in CA list)")
    .option('--tls-name <name>', "the name the MTA's certificate must carry (default: the target's IP address)")
    .option('--tls-insecure', 'send the --auth password even when the certificate does not verify', false)
    .option('--tests <list>', 'only these probe ids or globs (repeatable, or comma-separated); !id excludes (nmap-*, ehlo-*/*)', collect)
    .option('--deliver <mailbox>', 'send DATA with a marked test message to this mailbox you control')
    .option('--json', 'JSON report', false)
    .option('--junit <file>', 'also write a JUnit XML report (one testcase per probe)')
    .option('--state <file>', 'keep the result here and print what changed since the last run')
    .option('--alert-to <addr>', 'mail what changed (a new open path, a new verdict) to this address')
    .option(
      '--smtp <url>',
      'the SMTP server alerts go through: smtp://[user@]host:port (password: RELAY_AUDIT_SMTP_PASSWORD or --smtp-password-file)',
    )
    .option('--smtp-password-file <file>', 'the password of the --smtp user, on the first line of this file')
    .addOption(
      durationFlag(
        '--timeout <duration>',
        'per connection, reply and SSH login (5s, 500ms, …)',
        { flag: '--timeout', min: 100, max: 600_000, bareUnit: 'ms', warn },
        5000,
      ),
    )
    .option('--concurrency <n>', 'connections open at once against the target', intOption(1, 256), 8)
    .option(
      '--submission-ports <list>',
      "also probe these ports of the target when they accept a connection: PORT or PORT/tls (TLS from the first byte), repeatable or comma-separated; 'none' for only the target's port (default: 587,465/tls)",
      collect,
    )
    .option('--per-connection <n>', 'probes on one connection, RSET between (1: a new connection per probe)', intOption(1, 100), 1)
    .option('--ssh-user <user>', 'user for --vantage URLs without one (default: $USER)')
    .option('--ssh-key <file>', 'private key for SSH vantages (default: ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts to verify SSH host keys against (default: ~/.ssh/known_hosts)')
    .option('--host-key-fingerprint <SHA256:...>', 'pin the SSH host key instead')
    .action((opts: ProbeCommandOptions) => runProbeCommand(opts, io).then(() => undefined));

  program
    .command('config')
    .description('say who may relay through a sendmail built from these files; exit 1 when a grant reaches beyond --own')
    .requiredOption('--mc <file>', 'sendmail.mc')
    .option('--cf <file>', 'sendmail.cf, checked to be built from the .mc')
    .option('--access <file>', 'the access map source (text, as given to makemap)')
    .option('--relay-domains <file>', 'relay-domains (class R)')
    .option('--local-host-names <file>', 'local-host-names (class w)')
    .option(
      '--resolver <ip[:port]>',
      'resolve listed names with this DNS server (repeatable: asked in order, the next when one does not answer)',
      collect,
    )
    .option('--hosts <file>', 'resolve names with this hosts file instead (as sendmail with hosts: files)')
    .option('--own <cidr>', 'a network that is yours: grants inside it are expected (repeatable)', collect, [])
    .option('--client <ip>', 'predict the verdict this client address gets (repeatable)', collect, [])
    .option('--ext-domain <domain>', 'the external domain of the prediction', 'relay-check.example')
    .addOption(
      durationFlag(
        '--timeout <duration>',
        'per DNS query (3s, 500ms, …)',
        { flag: '--timeout', min: 100, max: 60_000, bareUnit: 'ms', warn },
        3000,
      ),
    )
    .option('--json', 'JSON output', false)
    .action((opts: ConfigCommandOptions) => runConfigCommand(opts, io));

  program
    .command('explain')
    .description(
      'join a probe report with the config audit: per vantage, the grants that let it relay (file:line) or that none does; exit 1 when it relays or they disagree',
    )
    .requiredOption('--report <file>', "the JSON of 'relay-audit probe --json' ('-': standard input)")
    .requiredOption('--mc <file>', 'sendmail.mc')
    .option('--cf <file>', 'sendmail.cf, checked to be built from the .mc')
    .option('--access <file>', 'the access map source (text, as given to makemap)')
    .option('--relay-domains <file>', 'relay-domains (class R)')
    .option('--local-host-names <file>', 'local-host-names (class w)')
    .option(
      '--resolver <ip[:port]>',
      'resolve names with this DNS server (repeatable: asked in order, the next when one does not answer)',
      collect,
    )
    .option('--hosts <file>', 'resolve names with this hosts file instead (as sendmail with hosts: files)')
    .option('--ext-domain <domain>', "the external domain of the prediction (default: the one the probes' recipients name)")
    .addOption(
      durationFlag(
        '--timeout <duration>',
        'per DNS query (3s, 500ms, …)',
        { flag: '--timeout', min: 100, max: 60_000, bareUnit: 'ms', warn },
        3000,
      ),
    )
    .option('--json', 'JSON output', false)
    .action((opts: ExplainCommandOptions) => runExplainCommand(opts, io, process.stdin).then(() => undefined));
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('relay-audit', buildProgram, argv);
}
