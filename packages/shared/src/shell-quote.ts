/**
 * The one place that turns an argv into a command line for a remote POSIX shell (sshd runs every
 * exec request through the user's login shell, so the command is always a string to be parsed).
 * Assumes a POSIX-compatible login shell (sh, dash, bash, ksh, zsh); csh/tcsh and fish parse
 * quotes differently.
 */
import { UserError } from './errors.js';

/**
 * Characters that no POSIX shell treats specially anywhere in a word. Deliberately absent:
 * `=` (a bare first word `a=b` is an assignment), `~` (tilde expansion), `{}` (bash brace
 * expansion), `#` (comment at word start), `!` (history in interactive shells).
 */
const SAFE_WORD = /^[A-Za-z0-9_./:@%+,-]+$/;

/** Quote one argument so that the shell hands it to the command byte for byte. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) {
    throw new UserError(
      'E_SHELL_QUOTE',
      `cannot pass ${JSON.stringify(arg)} to a remote command: it contains a NUL byte, which no command argument can hold`,
    );
  }
  if (arg === '') return "''";
  if (SAFE_WORD.test(arg)) return arg;
  // Inside single quotes nothing is special except the closing quote itself: end the quoted
  // part, add an escaped quote, and reopen.
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** Quote every argument and join them into one command line. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('shellCommand: argv is empty');
  return argv.map(shellQuote).join(' ');
}
