/**
 * Lossless rotation of named's query log: rename the live file (named keeps writing into the
 * renamed file through its open descriptor, so nothing is lost in between), then make named reopen
 * its log files, which creates a new live file. Copy-then-truncate is never used: every line named
 * writes between the copy and the truncate is lost.
 *
 * The steps run against a `RotateHost` — the local machine or a server over SSH — so that the same
 * tested sequence drives both.
 */
import { UserError, errorMessage, oneLine } from '@toolbox/shared';

export interface CommandResult {
  code: number | null;
  stderr: string;
}

/** What rotation needs from the machine that runs named. */
export interface RotateHost {
  readonly label: string;
  exists(path: string): Promise<boolean>;
  /** Renames without replacing: fails when `to` exists. */
  rename(from: string, to: string): Promise<void>;
  run(argv: readonly string[]): Promise<CommandResult>;
  /** Takes the host's rotation lock or throws E_LOCKED; returns its release. */
  lock(path: string): Promise<() => Promise<void>>;
}

export interface RotateOptions {
  log: string;
  /** The reopen command as argv (default `rndc reconfig`). */
  reopen: readonly string[];
  now: Date;
  /** How many times to run the reopen command before giving up (default 2). */
  attempts?: number;
}

export interface RotateResult {
  host: string;
  log: string;
  rotatedTo: string | null;
  reopen: string;
  /** Set when there was no live log to rotate. */
  skipped?: string;
}

export const DEFAULT_REOPEN = ['rndc', 'reconfig'] as const;

/**
 * `query.log.20261125093000`: the suffix ship recognises, from `now` in UTC (the tool's clock, the
 * same on every host it rotates, whatever their zones).
 */
export function rotatedName(log: string, now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${log}.${stamp}`;
}

/** Splits `--rndc 'rndc -c /etc/bind/rndc.conf reconfig'` into argv (whitespace only, no shell). */
export function reopenArgv(text: string): string[] {
  const argv = text
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '');
  if (argv.length === 0) throw new UserError('E_USAGE', '--rndc: give a command, e.g. "rndc reconfig"');
  return argv;
}

export function lockPathFor(log: string): string {
  return `${log}.rotate.lock`;
}

export async function rotate(host: RotateHost, opts: RotateOptions): Promise<RotateResult> {
  const reopen = opts.reopen.join(' ');
  const release = await host.lock(lockPathFor(opts.log));
  try {
    if (!(await host.exists(opts.log))) {
      // Nothing to rename — but a rotation whose reopen failed leaves named writing into the
      // renamed file with no live log: telling named again is what repairs that.
      await reopenNamed(host, opts, null);
      return {
        host: host.label,
        log: opts.log,
        rotatedTo: null,
        reopen,
        skipped: 'no live log to rename; told named to reopen its log anyway',
      };
    }
    let target = rotatedName(opts.log, opts.now);
    // Two rotations within one second: never overwrite, take the next free second.
    for (let i = 1; await host.exists(target); i++) {
      if (i > 60)
        throw new UserError('E_ROTATE', `${host.label}: ${target} and the next 60 names exist already; clean up old rotated logs`);
      target = rotatedName(opts.log, new Date(opts.now.getTime() + i * 1000));
    }
    try {
      await host.rename(opts.log, target);
    } catch (err) {
      throw new UserError('E_ROTATE', `${host.label}: cannot rename ${opts.log} to ${target}: ${oneLine(errorMessage(err))}`, {
        cause: err,
      });
    }
    await reopenNamed(host, opts, target);
    return { host: host.label, log: opts.log, rotatedTo: target, reopen };
  } finally {
    await release();
  }
}

async function reopenNamed(host: RotateHost, opts: RotateOptions, renamedTo: string | null): Promise<void> {
  const reopen = opts.reopen.join(' ');
  const attempts = opts.attempts ?? 2;
  let last: CommandResult = { code: null, stderr: '' };
  for (let i = 0; i < attempts; i++) {
    try {
      last = await host.run(opts.reopen);
    } catch (err) {
      last = { code: null, stderr: errorMessage(err) };
    }
    if (last.code === 0) return;
  }
  const why = `'${reopen}' failed (${last.code === null ? 'did not run' : `exit ${last.code}`}${last.stderr.trim() ? `: ${oneLine(last.stderr.trim())}` : ''})`;
  throw new UserError(
    'E_REOPEN',
    renamedTo === null
      ? `${host.label}: ${why}; named was not told to reopen ${opts.log}: fix and run '${reopen}' (or kill -HUP named)`
      : `${host.label}: renamed ${opts.log} to ${renamedTo} (kept; no line is lost), but ${why}; ` +
          `named still writes into ${renamedTo} until told to reopen: fix and run '${reopen}' (or kill -HUP named), ` +
          `and do not ship ${renamedTo} before that`,
  );
}
