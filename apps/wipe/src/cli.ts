/**
 * wipe command line: commander wiring only; the work lives in the modules beside this file.
 */
import { Command } from 'commander';
import { exitCodeHelp, packageVersion, runCli, type CliIo } from '@toolbox/shared';

export function buildProgram(_io: CliIo): Command {
  const program = new Command('wipe')
    .description(
      'Overwrite block devices or files with bit patterns (default 0x55 then 0xAA), then verify.',
    )
    .version(packageVersion(import.meta.url))
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run wipe --help for usage)')
    .addHelpText('after', `
wipe refuses anything mounted, swapped-on or held, shows what it is about to destroy and asks
for the device name to be typed back, writes every byte to the end, verifies by reading back from
the medium, and leaves a sanitization report.
${exitCodeHelp()}`);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli('wipe', buildProgram, argv);
}
