/**
 * dnslog command line: commander wiring only; the work lives in the modules beside this file.
 */
import { Command } from 'commander';
import { exitCodeHelp, packageVersion, runCli, type CliIo } from '@toolbox/shared';

export function buildProgram(_io: CliIo): Command {
  const program = new Command('dnslog')
    .description(
      'Ship BIND (named) query logs into SQLite or MySQL/MariaDB and report on them.',
    )
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run dnslog --help for usage)')
    .addHelpText('after', `
dnslog parses every BIND query-log format, bulk-loads the rows into an embedded SQLite file
(the default, no setup) or a RANGE-partitioned MySQL/MariaDB table, rotates the live log without
losing a line, pulls rotated files from name servers over SSH, and reports on the data.
${exitCodeHelp()}`);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('dnslog', buildProgram, argv);
}
