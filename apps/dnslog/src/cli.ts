/**
 * dnslog command line: commander wiring only; the work lives in the modules beside this file.
 */
import { Command, Option } from 'commander';
import { exitCodeHelp, intOption, packageVersion, runCli, type CliIo } from '@toolbox/shared';
import { runDbInit } from './db-command.js';
import { runParse } from './parse-command.js';
import { DEFAULT_DB_URL } from './db-url.js';
import { runTopReport, type ReportOptions } from './report-command.js';
import { runShip, type ShipCommandOptions } from './ship-command.js';

function dbOption(io: CliIo): Option {
  return new Option('--db <url>', 'sqlite:PATH or mysql://user@host:port/db (password: DNSLOG_DB_PASSWORD or ?option-file=)').default(
    io.env.DNSLOG_DB ?? DEFAULT_DB_URL,
  );
}

function addReport(report: Command, io: CliIo, name: string, summary: string, dim: 'qname' | 'client_ip' | 'qtype'): void {
  report
    .command(name)
    .description(summary)
    .addOption(dbOption(io))
    .option('--since <when>', 'from this time: a duration back from now (1h, 30m, 2d) or a date/time')
    .option('--until <when>', 'up to (not including) this time')
    .option('--server <name>', 'only queries logged by this server')
    .option('--limit <n>', 'how many rows', intOption(1, 1_000_000), 20)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .option('--json', 'JSON output (same as --format json)', false)
    .action((opts: ReportOptions) => runTopReport(dim, opts, io));
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('dnslog')
    .description('Ship BIND (named) query logs into SQLite or MySQL/MariaDB and report on them.')
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run dnslog --help for usage)')
    .addHelpText(
      'after',
      `
dnslog parses every BIND query-log format, bulk-loads the rows into an embedded SQLite file
(the default, no setup) or a RANGE-partitioned MySQL/MariaDB table, rotates the live log without
losing a line, pulls rotated files from name servers over SSH, and reports on the data.
${exitCodeHelp()}`,
    );

  const db = program.command('db').description('manage the database schema');
  db.command('init')
    .description('create the schema, or migrate it to this version (idempotent)')
    .addOption(dbOption(io))
    .option('--json', 'JSON output', false)
    .action((opts: { db: string; json: boolean }) => runDbInit(opts.db, opts.json, io));

  program
    .command('ship')
    .description('load rotated query logs into the database, each file once, then move it away')
    .argument('<source...>', 'a local file, directory or glob, or ssh://[user@]host[:port]/dir/glob')
    .addOption(dbOption(io))
    .option('--server <name>', 'record rows under this server name (default: this host, or the SSH host)')
    .option('--move-to <dir>', 'where shipped files go, relative to their directory', 'old')
    .option('--keep', 'leave shipped files where they are (the ledger still prevents loading them twice)', false)
    .option('--dry-run', 'list what would be shipped; load and move nothing', false)
    .option('--concurrency <n>', 'sources worked on at once', intOption(1, 64), 4)
    .option('--lock <file>', 'lock file (default: beside the SQLite file, or in the temp dir for MySQL)')
    .option('--ssh-user <user>', 'user for ssh:// sources without one (default: $USER)')
    .option('--ssh-key <file>', 'private key for ssh:// sources (default: ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts to verify SSH host keys against (default: ~/.ssh/known_hosts)')
    .option('--host-key-fingerprint <SHA256:...>', 'pin the SSH host key instead')
    .option('--no-compress', 'do not compress plain log files in transit over SSH')
    .option('--json', 'JSON report', false)
    .addHelpText('after', '\nExit codes: 0 all shipped, 1 some lines were rejected (kept in dnslog_rejects), 2 a file or source failed.\n')
    .action((sources: string[], opts: ShipCommandOptions) => runShip(sources, opts, io).then(() => undefined));

  const report = program.command('report').description('reports on the shipped queries');
  addReport(report, io, 'top-names', 'the most queried names', 'qname');
  addReport(report, io, 'top-clients', 'the clients sending the most queries', 'client_ip');
  addReport(report, io, 'qtypes', 'queries per type', 'qtype');
  program
    .command('parse')
    .description('parse query logs and print one row per query (a table, or NDJSON with --json)')
    .argument('[file...]', 'query log files, .gz decompressed; none or - reads stdin')
    .option('--json', 'one JSON object per query line (NDJSON)', false)
    .addHelpText('after', '\nA summary (lines, rows, skipped lines by reason) goes to stderr.\nExit codes: 0 every line was a query, 1 some lines were skipped, 2 an input could not be read.\n')
    .action((files: string[], opts: { json: boolean }) => runParse(files, { json: opts.json, stdin: process.stdin }, io).then(() => undefined));

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('dnslog', buildProgram, argv);
}
