/**
 * Errors a user can act on. Anything that is not a UserError is a bug: the CLI prints its stack
 * and exits 2. A UserError prints one line, `tool: message`, and exits with its exit code.
 */

/** Exit codes shared by every app (each app's README documents its own extras). */
export const ExitCode = {
  /** Everything went as asked and nothing was found. */
  Ok: 0,
  /** The check found something: an open relay, a bad MX, a verify mismatch, rejected lines. */
  Findings: 1,
  /** Usage, configuration or internal error. */
  Usage: 2,
  /** Interrupted by SIGINT (128 + 2, as shells report it). */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface UserErrorOptions {
  /** Exit code to use; usage/config errors (2) unless said otherwise. */
  exitCode?: number;
  /** The underlying error, kept for `--debug`. */
  cause?: unknown;
}

/**
 * An error whose message is meant for the person at the terminal: what is wrong, with which
 * input, and how to fix or override it. `code` is stable (`E_MOUNTED`, `E_HOSTKEY`, …) so that
 * scripts and tests can match on it rather than on wording.
 */
export class UserError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.Usage;
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The message of anything thrown, for wrapping third-party errors into a UserError. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
