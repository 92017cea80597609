/**
 * CLI conventions shared by every app: one top-level handler that turns errors into one line and an
 * exit code, commander's parse errors mapped to 2, and `--json` output helpers.
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { ExitCode, isUserError } from './errors.js';

/** What a command needs from the process, injected so that tests can drive a program in-process. */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  /** Records an exit code; the highest one recorded wins (findings beat ok). */
  setExitCode(code: number): void;
  /** The clock commands read "now" from; tests inject a fixed one (default: the system clock). */
  now?: () => Date;
}

export interface RunResult {
  exitCode: number;
}

/**
 * A reader that goes away (`tool … | head`) makes the next write fail with EPIPE: that is the
 * reader's choice, not an error worth a stack trace. Stop quietly, as `cat` would.
 */
function quietOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok);
  });
}

export function processIo(): CliIo & { exitCode(): number } {
  quietOnEpipe(process.stdout);
  quietOnEpipe(process.stderr);
  let code: number = ExitCode.Ok;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    setExitCode(c: number) {
      if (c > code) code = c;
    },
    exitCode: () => code,
  };
}

/** Applies the house error conventions to a program and every subcommand under it. */
export function applyCliConventions(program: Command, tool: string, io: Pick<CliIo, 'stdout' | 'stderr'>): void {
  const visit = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // commander writes "error: …" followed by a newline; we print "tool: …" as every app does.
      outputError: (s, write) => write(`${tool}: ${s.replace(/^error:\s*/, '').trimEnd()}\n`),
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}

function argvHas(argv: readonly string[], flag: string): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes(flag);
}

/**
 * Runs a program built by `build(io)` on `argv` (process.argv form) and returns the exit code. Never
 * calls process.exit: the caller sets process.exitCode, so pending output is flushed.
 */
export async function runCli(
  tool: string,
  build: (io: CliIo) => Command,
  argv: readonly string[],
  io: CliIo & { exitCode(): number } = processIo(),
): Promise<number> {
  const debug = argvHas(argv, '--debug');
  const json = argvHas(argv, '--json');
  try {
    const program = build(io);
    applyCliConventions(program, tool, io);
    await program.parseAsync([...argv]);
    return io.exitCode();
  } catch (err) {
    return reportError(tool, err, io, { debug, json });
  }
}

/** Prints an error the house way and returns its exit code. */
export function reportError(
  tool: string,
  err: unknown,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
  opts: { debug: boolean; json: boolean },
): number {
  if (err instanceof CommanderError) {
    // help and version "errors" are successful exits; commander already printed its own message.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      return ExitCode.Ok;
    }
    if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
    if (opts.json) writeJson(io.stdout, { ok: false, error: { code: 'E_USAGE', message: err.message.replace(/^error:\s*/, '') } });
    return ExitCode.Usage;
  }
  if (isUserError(err)) {
    io.stderr.write(`${tool}: ${oneLine(err.message)}\n`);
    if (opts.debug && err.stack) io.stderr.write(`${err.stack}\n`);
    if (opts.json) writeJson(io.stdout, { ok: false, error: { code: err.code, message: err.message } });
    return err.exitCode;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(`${tool}: internal error: ${oneLine(e.message)}\n`);
  io.stderr.write(opts.debug ? `${e.stack ?? ''}\n` : `${tool}: run again with --debug for the stack trace\n`);
  if (opts.json) writeJson(io.stdout, { ok: false, error: { code: 'E_INTERNAL', message: e.message } });
  return ExitCode.Usage;
}

/** Keeps an error on one line whatever the message held (a file name with a newline, say). */
export function oneLine(message: string): string {
  return message.replace(/\r?\n/g, '\\n');
}

/**
 * `--json` in every tool writes JSON Lines: one compact JSON value per line on stdout and nothing
 * else there. A command with one result writes one line; a command that streams (one object per
 * domain, per query, per progress event) writes one line per object as it is ready.
 */
export function writeJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/** A deprecation or other warning: one line on stderr, `tool: warning: …`; the run goes on. */
export function warner(tool: string, stderr: Writable): (message: string) => void {
  return (message) => void stderr.write(`${tool}: warning: ${oneLine(message)}\n`);
}

/** Parses an integer option for commander; a bad value is a usage error naming the option. */
export function intOption(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not an integer.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range ${min}..${max}.`);
    return n;
  };
}

/** The `version` of the package.json one level above a module's directory (src/ or dist/). */
export function packageVersion(moduleUrl: string): string {
  const text = readFileSync(new URL('../package.json', moduleUrl), 'utf8');
  return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
}

/** The exit-code table every app prints at the end of its --help. */
export function exitCodeHelp(extra: readonly (readonly [number, string])[] = []): string {
  const rows: (readonly [number, string])[] = [
    [0, 'ok'],
    [1, 'the check found something (see each command)'],
    [2, 'usage, configuration or internal error'],
    ...extra,
  ];
  return `\nExit codes:\n${rows.map(([c, t]) => `  ${String(c).padEnd(4)}${t}`).join('\n')}\n`;
}

/**
 * A repeatable commander option (`--host a --host b` → ['a', 'b']): pass as the option's parser.
 * Without a default the option stays undefined when absent; with `[]` it is an empty list.
 */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
