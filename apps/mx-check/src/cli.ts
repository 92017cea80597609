/**
 * mx-check command line: commander wiring only; the work lives in the modules beside this file.
 */
import { Command } from 'commander';
import { exitCodeHelp, packageVersion, runCli, type CliIo } from '@toolbox/shared';

export function buildProgram(_io: CliIo): Command {
  const program = new Command('mx-check')
    .description(
      'Inspect domains MX records: null MX, MX to localhost or private addresses, broken forms.',
    )
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run mx-check --help for usage)')
    .addHelpText('after', `
mx-check tells, for one domain or a list of thousands, which domains take mail, which declare
none (RFC 7505 null MX), which point mail at localhost or a private address, and which are broken.
${exitCodeHelp()}`);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('mx-check', buildProgram, argv);
}
