/**
 * wipe command line: commander wiring only; the work lives in the modules beside this file.
 */
import type { Readable } from 'node:stream';
import { Command, Option } from 'commander';
import {
  exitCodeHelp,
  intOption,
  packageVersion,
  runCli,
  UserError,
  writeJson,
  withDoubleInterrupt,
  type CliIo,
} from '@toolbox/shared/cli';
import { describeSource, METHODS, parsePatternSpec, planWipe, type VerifyMode } from './passes/plan-wipe.js';
import { runWipe, type WriteMode } from './commands/wipe-command.js';

export interface CliDeps {
  stdin?: Readable;
  signal?: AbortSignal;
}

interface RawOptions {
  method?: string;
  pattern?: string[];
  passes?: number;
  verify?: VerifyMode;
  zeroLast?: boolean;
  remove?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  report?: string;
  resume?: string;
  listMethods?: boolean;
  writeMode?: WriteMode;
  continueOnError?: boolean;
}

/**
 * `--pattern 0x92 0x49 0x24 /dev/sdb`: the variadic option also swallows the targets after it, so
 * anything that looks like a path (has a '/') goes back to the targets.
 */
export function splitPatternTokens(tokens: readonly string[]): { pattern: string[]; targets: string[] } {
  const i = tokens.findIndex((t) => t.includes('/'));
  return i < 0 ? { pattern: [...tokens], targets: [] } : { pattern: tokens.slice(0, i), targets: tokens.slice(i) };
}

export function listMethodsText(): string {
  const lines: string[] = [];
  for (const m of METHODS) {
    lines.push(`${m.name.padEnd(10)} ${m.description} (verify: ${m.verify})`);
    m.passes.forEach((p, i) => lines.push(`  pass ${String(i + 1).padStart(2)}  ${describeSource(p)}`));
  }
  return `${lines.join('\n')}\n`;
}

export function buildProgram(io: CliIo, deps: CliDeps = {}): Command {
  const version = packageVersion(import.meta.url);
  const program = new Command('wipe')
    .description('Overwrite block devices or files with bit patterns (default 0x55 then 0xAA), then verify.')
    .version(version)
    .argument('[target...]', 'block devices (/dev/sdX, /dev/loopN, /dev/nvme0n1) or regular files')
    .option('-m, --method <name>', 'pattern | zero | one | random | dod-short | dod | gutmann (see --list-methods)')
    .option('-p, --pattern <spec...>', 'your own passes: commas separate passes, bytes within one are hex (0x55,0xAA or 0x92 0x49 0x24)')
    .option('--passes <n>', 'repeat the method (or pattern list) n times', intOption(1, 1000))
    .addOption(new Option('--verify <when>', 'read back and compare: the last pass, all passes, or none').choices(['last', 'all', 'none']))
    .option('--zero-last', 'add a final pass of zeros')
    .option('--remove', 'files only: after a verified wipe, truncate, rename and unlink the file')
    .option('-y, --yes', 'do not ask for the device name to be typed back (the safety checks still run)')
    .option('-n, --dry-run', 'print what would be destroyed and the plan; write nothing')
    .option('--json', 'JSON lines on stdout: progress events, then the report')
    .option('--report <file>', 'write the sanitization report (JSON) to this file')
    .option('--resume <report>', 'continue an interrupted wipe from its report (and update that report)')
    .option('--list-methods', 'list the methods and their passes')
    .addOption(
      new Option(
        '--write-mode <mode>',
        'O_DIRECT or the page cache for writes; auto: O_DIRECT for block devices, page cache for files (the faster of each, see README)',
      )
        .choices(['auto', 'direct', 'buffered'])
        .default('auto'),
    )
    .option(
      '--continue-on-error',
      'on a write error, find the logical blocks that fail, record them in the report, and go on (exit 3 when any remain unwritten)',
    )
    .option('--debug', 'print stack traces of internal errors')
    .showHelpAfterError('(run wipe --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  wipe /dev/sdb                            two passes (0x55, 0xAA), verify the last
  wipe --method dod --report cert.json /dev/disk/by-id/ata-XYZ
  wipe --pattern 0x92 0x49 0x24 --zero-last /dev/loop3
  wipe --dry-run /dev/nvme1n1              show the plan, write nothing
  wipe --resume cert.json                  continue after Ctrl-C

wipe refuses anything mounted, swapped-on or held, shows what it is about to destroy and asks
for the device name to be typed back, writes every byte to the end, verifies by reading back from
the medium, and leaves a sanitization report.
${exitCodeHelp([
  [130, 'interrupted (Ctrl-C); the report says how far each pass got'],
  [3, 'some bytes could not be overwritten (--continue-on-error): the report lists them'],
])}`,
    )
    .action(async (targetArgs: string[], raw: RawOptions) => {
      if (raw.listMethods) {
        if (raw.json)
          writeJson(
            io.stdout,
            METHODS.map((m) => ({ name: m.name, description: m.description, verify: m.verify, passes: m.passes.map(describeSource) })),
          );
        else io.stdout.write(listMethodsText());
        return;
      }
      const split = splitPatternTokens(raw.pattern ?? []);
      const targets = [...split.targets, ...targetArgs];
      const patterns = raw.pattern ? parsePatternSpec(split.pattern.join(' ')) : undefined;
      if (raw.resume && (raw.method || raw.pattern || raw.passes || raw.zeroLast || raw.verify)) {
        throw new UserError('E_USAGE', '--resume takes the method and passes from the report; do not give them again');
      }
      const plan = raw.resume
        ? null
        : planWipe({ method: raw.method, patterns, passes: raw.passes, zeroLast: raw.zeroLast, verify: raw.verify });
      await runWipe(
        {
          targets,
          plan,
          yes: raw.yes ?? false,
          dryRun: raw.dryRun ?? false,
          json: raw.json ?? false,
          reportFile: raw.report ?? raw.resume ?? null,
          remove: raw.remove ?? false,
          resume: raw.resume ?? null,
          writeMode: raw.writeMode ?? 'auto',
          continueOnError: raw.continueOnError ?? false,
        },
        { io, stdin: deps.stdin ?? process.stdin, signal: deps.signal ?? new AbortController().signal, version },
      );
    });
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await withDoubleInterrupt(
    { tool: 'wipe', firstMessage: '\nwipe: stopping after the writes in flight (Ctrl-C again to stop at once)\n' },
    (signal) => runCli('wipe', (io) => buildProgram(io, { stdin: process.stdin, signal }), argv),
  );
}
