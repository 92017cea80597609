/**
 * A CliIo that keeps what a command prints in memory: for driving a program in-process (tests,
 * embedding) and reading its output and exit code back.
 */
import { PassThrough } from 'node:stream';
import type { CliIo } from './cli.js';

export interface MemoryIo extends CliIo {
  exitCode(): number;
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
}

export function createMemoryIo(env: NodeJS.ProcessEnv = {}, options: { isTTY?: boolean; now?: () => Date } = {}): MemoryIo {
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  stdout.isTTY = options.isTTY;
  stderr.isTTY = options.isTTY;
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  let code = 0;
  return {
    stdout,
    stderr,
    env,
    ...(options.now ? { now: options.now } : {}),
    setExitCode(c: number) {
      if (c > code) code = c;
    },
    exitCode: () => code,
    out: () => out,
    err: () => err,
  };
}
