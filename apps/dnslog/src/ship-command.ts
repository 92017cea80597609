/**
 * `dnslog ship SOURCE...`: the IO edge around ship.ts — builds sources and the store from options,
 * takes the lock, shows progress, prints the report, sets the exit code.
 */
import { homedir, hostname } from 'node:os';
import { basename, join } from 'node:path';
import {
  acquireLock,
  createProgress,
  ExitCode,
  formatBytes,
  oneLine,
  writeJson,
  type CliIo,
  type Progress,
} from '@toolbox/shared';
import { defaultLockPath } from './db-url.js';
import { openStore } from './open-store.js';
import { lineParserFor } from './parse-adapter.js';
import { ship, type FileResult, type ShipReport } from './ship.js';
import { localSource, sshSource, type LogSource } from './sources.js';
import type { Store } from './store.js';

export interface ShipCommandOptions {
  db: string;
  server?: string;
  moveTo: string;
  keep: boolean;
  dryRun: boolean;
  json: boolean;
  concurrency: number;
  lock?: string;
  sshUser?: string;
  sshKey?: string;
  knownHosts?: string;
  hostKeyFingerprint?: string;
  compress: boolean;
}

export function buildSources(specs: readonly string[], opts: ShipCommandOptions, env: NodeJS.ProcessEnv): LogSource[] {
  return specs.map((spec) =>
    spec.startsWith('ssh://')
      ? sshSource(spec, {
          ssh: {
            privateKeyPath: opts.sshKey,
            agent: opts.sshKey ? undefined : env.SSH_AUTH_SOCK,
            knownHostsPath: opts.hostKeyFingerprint ? undefined : (opts.knownHosts ?? join(homedir(), '.ssh', 'known_hosts')),
            hostKeyFingerprint: opts.hostKeyFingerprint,
          },
          defaultUser: opts.sshUser ?? env.USER ?? 'root',
          compress: opts.compress,
          server: opts.server,
        })
      : localSource(spec, opts.server ?? hostname()),
  );
}

function fileLine(f: FileResult): string {
  const where = `${f.server}:${f.path}`;
  switch (f.status) {
    case 'loaded':
      return `loaded   ${where}  ${f.rows} rows, ${f.rejects} rejected, ${formatBytes(f.size)} in ${f.seconds.toFixed(2)}s${f.movedTo ? `  -> ${f.movedTo}` : ''}`;
    case 'skipped':
      return `skipped  ${where}  already shipped${f.movedTo ? `  -> ${f.movedTo}` : ''}`;
    case 'would-load':
      return `would load ${where}  ${formatBytes(f.size)}`;
    default:
      return `FAILED   ${where}  ${oneLine(f.error ?? '')}`;
  }
}

export function summaryLine(r: ShipReport): string {
  const t = r.totals;
  const rate = t.seconds > 0 ? Math.round(t.rows / t.seconds) : 0;
  return (
    `shipped ${t.loaded} file(s): ${t.rows} rows, ${t.rejects} rejected line(s) in ${t.seconds.toFixed(2)}s (${rate} rows/s); ` +
    `${t.skipped} already shipped, ${t.failed} failed` +
    (r.sourceFailures.length > 0 ? `, ${r.sourceFailures.length} source(s) unreachable` : '')
  );
}

export async function runShip(specs: readonly string[], opts: ShipCommandOptions, io: CliIo): Promise<ShipReport> {
  const sources = buildSources(specs, opts, io.env);
  const lock = acquireLock(opts.lock ?? defaultLockPath(opts.db));
  let store: Store | null = null;
  const progress = new Map<string, Progress>();
  try {
    store = await openStore(opts.db, io.env);
    await store.init();
    const report = await ship(store, sources, lineParserFor, {
      moveTo: opts.keep ? null : opts.moveTo,
      concurrency: opts.concurrency,
      dryRun: opts.dryRun,
      onBytes: io.stderr.isTTY
        ? (file, n) => {
            let p = progress.get(file.path);
            if (!p) {
              p = createProgress({ label: `${file.server}:${basename(file.path)}`, total: file.size, unit: 'bytes', stream: io.stderr });
              progress.set(file.path, p);
            }
            p.add(n);
          }
        : undefined,
      onFileDone: (f) => {
        progress.get(f.path)?.finish();
        if (!opts.json) io.stdout.write(`${fileLine(f)}\n`);
      },
    });
    for (const s of report.sourceFailures) io.stderr.write(`dnslog: ${s.spec}: ${oneLine(s.error)}\n`);
    for (const f of report.files) if (f.status === 'failed') io.stderr.write(`dnslog: ${f.server}:${f.path}: ${oneLine(f.error ?? '')}\n`);
    if (opts.json) writeJson(io.stdout, report);
    else {
      for (const s of report.liveSkipped) io.stdout.write(`not shipped ${s.server}:${s.path} (${s.reason})\n`);
      io.stdout.write(`${summaryLine(report)}\n`);
    }
    if (report.totals.failed > 0 || report.sourceFailures.length > 0) io.setExitCode(ExitCode.Usage);
    else if (report.totals.rejects > 0) io.setExitCode(ExitCode.Findings);
    return report;
  } finally {
    await store?.close();
    lock.release();
  }
}
