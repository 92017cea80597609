/**
 * dnslog command line: commander wiring only; the work lives in the modules beside this file.
 * Each command's module is imported when the command runs, so that a report does not pay for
 * loading the SSH layer, the other database's driver or the chart library.
 */
import { Command, Option } from 'commander';
import { collect, durationFlag, exitCodeHelp, intOption, packageVersion, runCli, warner, type CliIo } from '@toolbox/shared/cli';
import { DEFAULT_DB_URL } from './store/db-url.js';
import type { Granularity } from './store/mysql/partitions.js';
import type { PartitionsOptions } from './commands/partitions-command.js';
import type { PruneOptions } from './commands/prune-command.js';
import type { SearchOptions, ServersOptions, TimelineOptions, TopOptions } from './commands/report-command.js';
import type { RotateCommandOptions } from './commands/rotate-command.js';
import type { ScheduleCommandOptions } from './commands/schedule-command.js';
import type { ShipCommandOptions } from './commands/ship-command.js';

const dbCommands = () => import('./commands/db-command.js');
const reports = () => import('./commands/report-command.js');

function dbOption(io: CliIo): Option {
  return new Option('--db <url>', 'sqlite:PATH or mysql://user@host:port/db (password: DNSLOG_DB_PASSWORD or ?option-file=)').default(
    io.env.DNSLOG_DB ?? DEFAULT_DB_URL,
  );
}

function reportCommand(report: Command, io: CliIo, name: string, summary: string): Command {
  return report
    .command(name)
    .description(summary)
    .addOption(dbOption(io))
    .option('--since <when>', 'from this time: a duration back from now (1h, 30m, 2d) or a date/time')
    .option('--until <when>', 'up to (not including) this time')
    .option('--server <name>', 'only queries logged by this server')
    .option('--client <ip|cidr>', 'only queries from this client address or block (192.0.2.0/24, 2001:db8::/32)')
    .option('--limit <n>', 'how many rows', intOption(1, 1_000_000), 20)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .option('--json', 'JSON output (same as --format json)', false)
    .option('--explain', "print the database's query plan instead (MySQL: the partitions read and the index used)", false)
    .option('--raw', 'count from the query rows even where the rollup tables could answer', false)
    .option('--partial', 'a sharded database with a backend down: answer from the others and say so (exit 1) instead of failing', false)
    .option('--tz <zone>', "read --since/--until and print times in this zone (IANA name, UTC or +01:00; default: this host's zone, $TZ)");
}

export function buildProgram(io: CliIo): Command {
  const warn = warner('dnslog', io.stderr);
  /** `--lock-wait`: a duration (a bare number is seconds, deprecated). */
  const lockWait = (description: string, defaultMs: number): Option =>
    durationFlag('--lock-wait <duration>', description, { flag: '--lock-wait', min: 0, max: 86_400_000, bareUnit: 's', warn }, defaultMs);
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
    .description(
      'create the schema, or migrate it to this version (idempotent); on MySQL also lays out partitions as `dnslog partitions` does',
    )
    .addOption(dbOption(io))
    .addOption(granularityOption())
    .option('--ahead <duration>', 'MySQL: partitions ready this far ahead (at least two periods)', '24h')
    .option(
      '--assume-tz <[server=]zone>',
      "a database made before UTC times (schema 5): the zone its stored times were written in (default: this host's); repeatable, server=zone for one server",
      collect,
    )
    .option(
      '--shard <url>',
      'MySQL: shard over this backend database (repeatable, in order; --db is then the front, which needs the Spider engine): each backend gets the schema, the front Spider tables over them and the shard map',
      collect,
    )
    .option('--json', 'JSON output', false)
    .action((opts: { db: string; json: boolean; granularity: Granularity; ahead: string; assumeTz?: string[]; shard?: string[] }) =>
      dbCommands().then((m) =>
        m.runDbInit(
          opts.db,
          opts.json,
          io,
          { granularity: opts.granularity, ahead: opts.ahead, now: io.now?.() },
          opts.assumeTz,
          opts.shard,
        ),
      ),
    );
  db.command('rebuild-rollups')
    .description('count the rollup tables again from the stored rows (after rows were changed by hand); takes the ship lock')
    .addOption(dbOption(io))
    .option('--lock <file>', 'lock file (default: the one ship uses)')
    .option('--json', 'JSON output', false)
    .action((opts: { db: string; json: boolean; lock?: string }) =>
      dbCommands().then((m) => m.runDbRebuildRollups(opts.db, opts.json, io, opts.lock)),
    );

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
    .option(
      '--lock <file>',
      'also take this lock file (default: GET_LOCK on MySQL; for SQLite a file in /run/dnslog or $XDG_RUNTIME_DIR/dnslog)',
    )
    .addOption(lockWait('wait this long for another ship, prune or partitions run on the same database (0: fail at once)', 0))
    .option('--owner <user>', "ship only files owned by this user (name or uid; default: the owner of the log's directory)")
    .addOption(
      durationFlag(
        '--min-age <duration>',
        'leave files modified less than this long ago for the next run (named may still write them)',
        { flag: '--min-age', min: 0, max: 31_536_000_000, bareUnit: 's', warn },
        60_000,
      ),
    )
    .option('--ssh-user <user>', 'user for ssh:// sources without one (default: $USER)')
    .option('--ssh-key <file>', 'private key for ssh:// sources (default: ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts to verify SSH host keys against (default: ~/.ssh/known_hosts)')
    .option('--host-key-fingerprint <SHA256:...>', 'pin the SSH host key instead')
    .option('--no-compress', 'do not compress plain log files in transit over SSH')
    .option(
      '--tz <[server=]zone>',
      "the zone of lines that carry none (IANA name like Europe/Berlin, UTC, +01:00); repeatable, server=zone for one server (default: the zone of the host that wrote the file: this host's, or the SSH host's)",
      collect,
    )
    .option(
      '--chunk-lines <n>',
      'lines per transaction: a longer file is committed in parts, each with its progress in the ledger, and a run stopped between them goes on after the last',
      intOption(1, 1_000_000_000),
      1_000_000,
    )
    .option(
      '--no-threads',
      'on a sharded database, parse every file on the main thread instead of one worker thread per backend (a little less CPU in all; slower on a host with a core per backend)',
    )
    .option('--json', 'JSON report', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 all shipped (files left for the next run by --min-age included), 1 some lines were rejected (kept in dnslog_rejects),\n' +
        "2 a file or source failed, a file was refused (a link, FIFO, device or a stranger's file), or a loaded file could not be moved.\n",
    )
    .action((sources: string[], opts: ShipCommandOptions) =>
      import('./commands/ship-command.js').then((m) => m.runShip(sources, opts, io)).then(() => undefined),
    );

  const report = program.command('report').description('reports on the shipped queries');
  reportCommand(report, io, 'top-names', 'the most queried names, or registered domains with --by domain')
    .addOption(
      new Option('--by <what>', 'count per name, or per registered domain (example.co.uk)').choices(['name', 'domain']).default('name'),
    )
    .action((opts: TopOptions) => reports().then((m) => m.runTopReport('qname', opts, io, io.now?.())));
  reportCommand(report, io, 'top-clients', 'the clients sending the most queries').action((opts: TopOptions) =>
    reports().then((m) => m.runTopReport('client_ip', opts, io, io.now?.())),
  );
  reportCommand(report, io, 'qtypes', 'queries per type').action((opts: TopOptions) =>
    reports().then((m) => m.runTopReport('qtype', opts, io, io.now?.())),
  );
  reportCommand(report, io, 'timeline', 'queries per minute, hour or day, per server, as a chart')
    .addOption(new Option('--per <bucket>', 'time bucket').choices(['minute', 'hour', 'day']).default('hour'))
    .option('--svg <file>', 'also write the chart as an SVG picture')
    .option('--html <file>', 'also write the chart as an HTML page')
    .action((opts: TimelineOptions) => reports().then((m) => m.runTimeline(opts, io, io.now?.())));
  reportCommand(report, io, 'search', 'queries whose name matches (newest first)')
    .option('--like <pattern>', "SQL LIKE pattern on the name ('%.example.com', '_dmarc.%')")
    .option('--suffix <domain>', 'the domain and every name under it (uses the reversed-name index)')
    .option('--regex <re>', 'regular expression on the name (case-insensitive)')
    .action((opts: SearchOptions) => reports().then((m) => m.runSearch(opts, io, io.now?.())));
  reportCommand(report, io, 'servers', 'per-server volume and last seen; exit 1 when one stopped shipping')
    .option('--stale <duration>', 'a server whose newest query is older than this is STALE', '6h')
    .action((opts: ServersOptions) =>
      reports()
        .then((m) => m.runServers(opts, io, io.now?.()))
        .then(() => undefined),
    );

  program
    .command('rotate')
    .description("rename named's live query log to LOG.YYYYmmddHHMMSS and make named reopen it (no line lost)")
    .requiredOption('--log <path>', "named's query log file")
    .option('--rndc <command>', "how to make named reopen its log (BIND 9.18: rndc reconfig; 9.21+: 'rndc closelogs'; or 'kill -HUP PID')")
    .option('--host <ssh-url>', 'rotate on this server over SSH (ssh://[user@]host[:port]); repeatable', collect)
    .option('--ssh-user <user>', 'user for --host URLs without one (default: $USER)')
    .option('--ssh-key <file>', 'private key (default: ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts to verify host keys against (default: ~/.ssh/known_hosts)')
    .option('--host-key-fingerprint <SHA256:...>', 'pin the SSH host key instead')
    .option('--json', 'JSON output', false)
    .addHelpText(
      'after',
      '\nA lock (LOG.rotate.lock) keeps two rotations apart. If the reopen command fails the renamed file is kept\nand the error says what to run; exit 2.\n',
    )
    .action((opts: RotateCommandOptions) =>
      import('./commands/rotate-command.js').then((m) => m.runRotate(opts, io, io.now?.())).then(() => undefined),
    );

  program
    .command('schedule')
    .description('print cron lines (or systemd units) that rotate every N hours, off the hour, staggered per server, then ship')
    .requiredOption('--log <path>', "named's query log on the servers")
    .addOption(
      durationFlag(
        '--every <duration>',
        'time between rotations: whole hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h)',
        { flag: '--every', min: 3_600_000, max: 86_400_000, bareUnit: 'h', warn },
        4 * 3_600_000,
      ),
    )
    .option('--host <ssh-url>', 'a name server to rotate and ship from over SSH; repeatable (default: this host)', collect)
    .addOption(dbOption(io))
    .option('--rndc <command>', 'reopen command passed to rotate')
    .option('--ssh-key <file>', 'private key passed to rotate and ship')
    .option('--first-minute <m>', 'minute past the hour of the first server', intOption(1, 59), 7)
    .option('--dnslog <path>', 'dnslog as cron runs it', 'dnslog')
    .addOption(new Option('--format <format>', 'output').choices(['cron', 'systemd']).default('cron'))
    .action((opts: ScheduleCommandOptions) => import('./commands/schedule-command.js').then((m) => m.runSchedule(opts, io)));

  program
    .command('partitions')
    .description('keep MySQL partitions ready ahead of time (idempotent; run it from cron every hour)')
    .addOption(dbOption(io))
    .addOption(granularityOption())
    .option('--ahead <duration>', 'keep partitions ready this far ahead (at least two periods)', '24h')
    .option('--dry-run', 'print what would be added; change nothing', false)
    .option('--lock <file>', 'lock file (default: the ship lock of this database)')
    .addOption(lockWait('wait this long for a running ship to finish', 300_000))
    .option('--json', 'JSON output', false)
    .addHelpText('after', '\nExit codes: 0 ok, 1 rows landed in the catch-all partition (nothing changed, see the warning), 2 error.\n')
    .action((opts: PartitionsOptions) =>
      import('./commands/partitions-command.js').then((m) => m.runPartitions(opts, io, io.now?.())).then(() => undefined),
    );

  program
    .command('prune')
    .description('age out data: drop MySQL partitions wholly older than --keep (archived first with --archive); SQLite: delete in batches')
    .addOption(dbOption(io))
    .requiredOption('--keep <duration>', 'retention: keep this much (30d, 12w, 48h)')
    .option('--archive <dir>', 'first write each partition to DIR as gzip JSON lines (header + rows), verified by count')
    .option('--dry-run', 'print what would be dropped; change nothing', false)
    .option('--batch <rows>', 'SQLite: rows per delete transaction', intOption(100, 1_000_000), 5000)
    .option('--lock <file>', 'lock file (default: the ship lock of this database)')
    .addOption(lockWait('wait this long for a running ship to finish', 300_000))
    .option('--json', 'JSON output', false)
    .action((opts: PruneOptions) =>
      import('./commands/prune-command.js').then((m) => m.runPrune(opts, io, io.now?.())).then(() => undefined),
    );
  program
    .command('parse')
    .description('parse query logs and print one row per query (a table, or NDJSON with --json)')
    .argument('[file...]', 'query log files, .gz decompressed; none or - reads stdin')
    .option('--json', 'one JSON object per query line (NDJSON)', false)
    .addHelpText(
      'after',
      '\nA summary (lines, rows, skipped lines by reason) goes to stderr.\nExit codes: 0 every line was a query, 1 some lines were skipped, 2 an input could not be read.\n',
    )
    .action((files: string[], opts: { json: boolean }) =>
      import('./commands/parse-command.js')
        .then((m) => m.runParse(files, { json: opts.json, stdin: process.stdin }, io))
        .then(() => undefined),
    );

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('dnslog', buildProgram, argv);
}

/** `--granularity`, shared by `db init` and `partitions`: one layout, one default. */
function granularityOption(): Option {
  return new Option('--granularity <g>', 'MySQL: one partition per hour or per day').choices(['hour', 'day']).default('hour');
}
