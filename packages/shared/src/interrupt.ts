/**
 * Ctrl-C the way every long-running command takes it: the first one aborts a signal so the work
 * stops cleanly (in-flight writes or queries finish, what was obtained is reported); the second one
 * exits at once with 130.
 */
import type { Writable } from 'node:stream';
import { ExitCode } from './errors.js';

export interface DoubleInterruptOptions {
  /** Tool name, the prefix of the second Ctrl-C's line. */
  tool: string;
  /** The whole line printed on the first Ctrl-C (what happens now, and that a second one stops at once). */
  firstMessage: string;
  /** Where SIGINT comes from (default: process). */
  source?: Pick<NodeJS.Process, 'on' | 'off'>;
  /** Default: process.stderr. */
  stderr?: Pick<Writable, 'write'>;
  /** Default: process.exit. */
  exit?: (code: number) => void;
}

/** Runs `work` with a signal aborted by the first Ctrl-C; a second Ctrl-C exits with 130. */
export async function withDoubleInterrupt<T>(opts: DoubleInterruptOptions, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const source = opts.source ?? process;
  const stderr = opts.stderr ?? process.stderr;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const ac = new AbortController();
  const onSigint = (): void => {
    if (ac.signal.aborted) {
      stderr.write(`${opts.tool}: interrupted again: exiting now\n`);
      exit(ExitCode.Interrupted);
      return;
    }
    stderr.write(opts.firstMessage);
    ac.abort();
  };
  source.on('SIGINT', onSigint);
  try {
    return await work(ac.signal);
  } finally {
    source.off('SIGINT', onSigint);
  }
}
