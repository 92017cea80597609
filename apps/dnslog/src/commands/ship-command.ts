/**
 * `dnslog ship SOURCE...`: the IO edge around ship.ts — builds sources and the store from options,
 * takes the lock, shows progress, prints the report, sets the exit code.
 */
import { hostname } from 'node:os';
import { basename } from 'node:path';
import {
  createProgress,
  ExitCode,
  formatBytes,
  oneLine,
  parseSshUrl,
  sshAuthOptions,
  sshUsername,
  writeJson,
  type CliIo,
  type Progress,
} from '@toolbox/shared';
import { openLockedStore, type LockedStore } from '../ship/ship-lock.js';
import { lineParserFor } from '../parse/parse-adapter.js';
import { ship, type FileResult, type ShipReport } from '../ship/ship.js';
import { zonesByServer } from '../time/zone.js';
import { checkOwnerOption, localSource, sshSource, type LogFile, type LogSource, type TrustOptions } from '../ship/sources.js';

export interface ShipCommandOptions {
  db: string;
  server?: string;
  moveTo: string;
  keep: boolean;
  dryRun: boolean;
  json: boolean;
  concurrency: number;
  lock?: string;
  owner?: string;
  /** --min-age, in milliseconds. */
  minAge: number;
  sshUser?: string;
  sshKey?: string;
  knownHosts?: string;
  hostKeyFingerprint?: string;
  compress: boolean;
  /** Lines per transaction (default LOAD_CHUNK_LINES). */
  chunkLines?: number;
  /** --no-threads: false (a sharded store's lanes parse on the main thread). */
  threads?: boolean;
  /** Seconds to wait for another run holding the lock (default 0: fail at once). */
  /** --lock-wait, in milliseconds. */
  lockWait?: number;
  /** `[SERVER=]ZONE` entries: the zone of lines without one (default: the writing host's). */
  tz?: string[];
}

export function buildSources(specs: readonly string[], opts: ShipCommandOptions, env: NodeJS.ProcessEnv): LogSource[] {
  checkOwnerOption(opts.owner);
  const trust: TrustOptions = { owner: opts.owner, minAgeSeconds: Math.ceil((opts.minAge ?? 60_000) / 1000) };
  const zoneOf = zonesByServer(opts.tz, '--tz');
  return specs.map((spec) =>
    spec.startsWith('ssh://')
      ? sshSource(spec, {
          ssh: sshAuthOptions(opts, env),
          defaultUser: sshUsername(spec, parseSshUrl(spec).username, opts.sshUser, env),
          compress: opts.compress,
          server: opts.server,
          trust,
          zoneOf: (server) => zoneOf(server)?.name,
        })
      : localSource(spec, opts.server ?? hostname(), trust, zoneOf(opts.server ?? hostname())?.name),
  );
}

function fileLine(f: FileResult): string {
  const where = `${f.server}:${f.path}`;
  switch (f.status) {
    case 'loaded':
      return `loaded   ${where}  ${f.rows} rows, ${f.rejects} rejected, ${formatBytes(f.size)} in ${f.seconds.toFixed(2)}s${moved(f)}`;
    case 'skipped':
      return `skipped  ${where}  already shipped${moved(f)}`;
    case 'would-load':
      return `would load ${where}  ${formatBytes(f.size)}`;
    case 'refused':
      return `REFUSED  ${where}  ${oneLine(f.error ?? '')}`;
    case 'deferred':
      return `deferred ${where}  ${oneLine(f.error ?? '')}`;
    default:
      return `FAILED   ${where}  ${oneLine(f.error ?? '')}`;
  }
}

function moved(f: FileResult): string {
  if (f.moveError !== null) return `  NOT MOVED: ${oneLine(f.moveError)}`;
  return f.movedTo ? `  -> ${f.movedTo}` : '';
}

export function summaryLine(r: ShipReport): string {
  const t = r.totals;
  const rate = t.seconds > 0 ? Math.round(t.rows / t.seconds) : 0;
  return (
    `shipped ${t.loaded} file(s): ${t.rows} rows, ${t.rejects} rejected line(s) in ${t.seconds.toFixed(2)}s (${rate} rows/s); ` +
    `${t.skipped} already shipped, ${t.failed} failed` +
    (t.refused > 0 ? `, ${t.refused} refused` : '') +
    (t.moveFailed > 0 ? `, ${t.moveFailed} loaded but not moved` : '') +
    (t.deferred > 0 ? `, ${t.deferred} left for the next run` : '') +
    (r.sourceFailures.length > 0 ? `, ${r.sourceFailures.length} source(s) unreachable` : '')
  );
}

/** One progress bar per file being shipped, keyed by server and path: every name server has its /var/log/named/query.log.1. */
export function progressBars(stream: CliIo['stderr']): {
  add: (file: Pick<LogFile, 'server' | 'path' | 'size'>, n: number) => void;
  finish: (file: Pick<FileResult, 'server' | 'path'>) => void;
  readonly open: ReadonlyMap<string, Progress>;
} {
  const open = new Map<string, Progress>();
  const key = (f: { server: string; path: string }) => `${f.server}\0${f.path}`;
  return {
    open,
    add(file, n) {
      let p = open.get(key(file));
      if (!p) {
        p = createProgress({ label: `${file.server}:${basename(file.path)}`, total: file.size, unit: 'bytes', stream });
        open.set(key(file), p);
      }
      p.add(n);
    },
    finish(f) {
      open.get(key(f))?.finish();
      open.delete(key(f));
    },
  };
}

export async function runShip(specs: readonly string[], opts: ShipCommandOptions, io: CliIo): Promise<ShipReport> {
  const sources = buildSources(specs, opts, io.env);
  // Ship never waits: a run from cron finding the previous one still busy leaves the work to it.
  const locked: LockedStore = await openLockedStore(opts.db, {
    lock: opts.lock,
    waitMs: opts.lockWait ?? 0,
    env: io.env,
    store: { chunkLines: opts.chunkLines },
  });
  const store = locked.store;
  const progress = io.stderr.isTTY ? progressBars(io.stderr) : null;
  try {
    await store.init();
    const report = await ship(store, sources, lineParserFor, {
      moveTo: opts.keep ? null : opts.moveTo,
      concurrency: opts.concurrency,
      dryRun: opts.dryRun,
      threads: opts.threads !== false,
      onBytes: progress?.add,
      onFileDone: (f) => {
        progress?.finish(f);
        if (!opts.json) io.stdout.write(`${fileLine(f)}\n`);
      },
    });
    for (const s of report.sourceFailures) io.stderr.write(`dnslog: ${s.spec}: ${oneLine(s.error)}\n`);
    for (const f of report.files) {
      if (f.status === 'failed' || f.status === 'refused') io.stderr.write(`dnslog: ${f.server}:${f.path}: ${oneLine(f.error ?? '')}\n`);
      const back = f.rejectsByReason.time_back ?? 0;
      if (back > 0) {
        io.stderr.write(
          `dnslog: ${f.server}:${f.path}: ${back} line(s) more than an hour before an earlier line (a clock stepped back, or --tz wrong?): kept as time_back rejects\n`,
        );
      }
      if (f.moveError !== null)
        io.stderr.write(`dnslog: ${f.server}:${f.path}: loaded (${f.rows} rows) but not moved: ${oneLine(f.moveError)}\n`);
    }
    if (opts.json) writeJson(io.stdout, report);
    else {
      for (const s of report.liveSkipped) io.stdout.write(`not shipped ${s.server}:${s.path} (${s.reason})\n`);
      io.stdout.write(`${summaryLine(report)}\n`);
    }
    const t = report.totals;
    if (t.failed > 0 || t.refused > 0 || t.moveFailed > 0 || report.sourceFailures.length > 0) io.setExitCode(ExitCode.Usage);
    else if (report.totals.rejects > 0) io.setExitCode(ExitCode.Findings);
    return report;
  } finally {
    await locked.close();
  }
}
