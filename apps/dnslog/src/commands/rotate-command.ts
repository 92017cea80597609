/**
 * `dnslog rotate`: the IO edge around rotate.ts — the local machine, or each `--host ssh://…`
 * through the shared SSH layer (commands quoted by shellCommand, host keys verified).
 */
import { execFile } from 'node:child_process';
import { existsSync, linkSync, unlinkSync } from 'node:fs';
import {
  acquireLock,
  errorMessage,
  ExitCode,
  oneLine,
  parseSshUrl,
  sshAuthOptions,
  sshConnect,
  sshUsername,
  UserError,
  writeJson,
  type CliIo,
  type SshConnection,
} from '@toolbox/shared';
import { DEFAULT_REOPEN, reopenArgv, rotate, type CommandResult, type RotateHost, type RotateResult } from '../ship/rotate.js';

export interface RotateCommandOptions {
  log: string;
  rndc?: string;
  host?: string[];
  sshUser?: string;
  sshKey?: string;
  knownHosts?: string;
  hostKeyFingerprint?: string;
  json: boolean;
}

const COMMAND_TIMEOUT_MS = 30_000;

export function localHost(): RotateHost {
  return {
    label: 'localhost',
    exists: (path) => Promise.resolve(existsSync(path)),
    rename(from, to) {
      // link + unlink: fails with EEXIST instead of silently replacing `to` (rename(2) would).
      linkSync(from, to);
      unlinkSync(from);
      return Promise.resolve();
    },
    run: (argv) =>
      new Promise<CommandResult>((resolve) => {
        const [cmd, ...args] = argv;
        execFile(cmd ?? '', args, { timeout: COMMAND_TIMEOUT_MS }, (err, _stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
          resolve({ code, stderr: err && code === null ? `${errorMessage(err)} ${stderr}` : stderr });
        });
      }),
    lock(path) {
      const handle = acquireLock(path);
      return Promise.resolve(() => {
        handle.release();
        return Promise.resolve();
      });
    },
  };
}

/** Over SSH: the lock is a directory made with mkdir (atomic), removed afterwards. */
export function sshHost(conn: SshConnection, label: string): RotateHost {
  const ok = async (argv: readonly string[]) => (await conn.exec(argv, { timeoutMs: COMMAND_TIMEOUT_MS })).code === 0;
  return {
    label,
    exists: (path) => ok(['test', '-e', path]),
    async rename(from, to) {
      // ln (no -f) refuses an existing target; then the old name goes.
      const r = await conn.exec(['ln', '--', from, to], { timeoutMs: COMMAND_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(r.stderr.toString().trim() || `ln exited ${r.code}`);
      const u = await conn.exec(['rm', '-f', '--', from], { timeoutMs: COMMAND_TIMEOUT_MS });
      if (u.code !== 0) throw new Error(u.stderr.toString().trim() || `rm exited ${u.code}`);
    },
    async run(argv) {
      const r = await conn.exec(argv, { timeoutMs: COMMAND_TIMEOUT_MS });
      return { code: r.code, stderr: r.stderr.toString() };
    },
    async lock(path) {
      const r = await conn.exec(['mkdir', '--', path], { timeoutMs: COMMAND_TIMEOUT_MS });
      if (r.code !== 0) {
        throw new UserError(
          'E_LOCKED',
          `${label}: lock ${path} exists (another rotation is running, or one died: remove the directory if so)`,
        );
      }
      return async () => {
        const u = await conn.exec(['rmdir', '--', path], { timeoutMs: COMMAND_TIMEOUT_MS });
        if (u.code !== 0)
          throw new UserError('E_LOCK', `${label}: cannot remove the lock ${path}: ${u.stderr.toString().trim()}; remove it by hand`);
      };
    },
  };
}

function resultLine(r: RotateResult): string {
  if (r.rotatedTo === null) return `${r.host}: ${r.log} not rotated: ${r.skipped ?? ''}`;
  return `${r.host}: ${r.log} -> ${r.rotatedTo}; named reopened its log ('${r.reopen}')`;
}

export async function runRotate(opts: RotateCommandOptions, io: CliIo, now = new Date()): Promise<RotateResult[]> {
  const reopen = opts.rndc === undefined ? [...DEFAULT_REOPEN] : reopenArgv(opts.rndc);
  const results: RotateResult[] = [];
  const hosts = opts.host ?? [];
  let failed = 0;
  const report = (r: RotateResult) => {
    results.push(r);
    if (!opts.json) io.stdout.write(`${resultLine(r)}\n`);
  };
  if (hosts.length === 0) {
    report(await rotate(localHost(), { log: opts.log, reopen, now }));
  } else {
    for (const spec of hosts) {
      const url = parseSshUrl(spec);
      let conn: SshConnection | null = null;
      try {
        conn = await sshConnect({
          host: url.host,
          port: url.port ?? 22,
          username: sshUsername(spec, url.username, opts.sshUser, io.env),
          ...sshAuthOptions(opts, io.env),
        });
        report(await rotate(sshHost(conn, url.host), { log: opts.log, reopen, now }));
      } catch (err) {
        if (hosts.length === 1) throw err;
        failed++;
        io.stderr.write(`dnslog: ${spec}: ${oneLine(errorMessage(err))}\n`);
      } finally {
        conn?.close();
      }
    }
  }
  if (opts.json) writeJson(io.stdout, results);
  if (failed > 0) io.setExitCode(ExitCode.Usage);
  return results;
}
