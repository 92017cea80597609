/**
 * relay-audit command line: commander wiring only; the work lives in the modules beside this file.
 */
import { Command } from 'commander';
import { exitCodeHelp, packageVersion, runCli, type CliIo } from '@toolbox/shared';

export function buildProgram(_io: CliIo): Command {
  const program = new Command('relay-audit')
    .description(
      'Find open mail relays: probe an MTA from many vantage hosts and audit sendmail config.',
    )
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run relay-audit --help for usage)')
    .addHelpText('after', `
relay-audit connects from each vantage host (an SSH channel opened there, or a bound source
address), tries the classic relay tricks, and reads sendmail access, relay-domains and
sendmail.mc to say which hosts may relay.
${exitCodeHelp()}`);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('relay-audit', buildProgram, argv);
}
