/**
 * `dnslog ship`: for every source, every rotated file not yet in the ledger is streamed, parsed and
 * loaded in one transaction, then moved away. Sources are worked on in parallel; a failing source
 * or file is reported and the others go on.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError, errorMessage, isUserError, limiter } from '@toolbox/shared';
import type { RawLine } from '../parse/line-reader.js';
import { after, parsedLines } from './file-lines.js';
import { LANE_THREADS_AVAILABLE, LaneThreads } from './lane-threads.js';
import { isGzipName, type LogFile, type LogSource } from './sources.js';
import type { FileLoad, ParsedLine, ResumePoint, Store } from '../store/store.js';

export type LineParserFactory = (file: LogFile) => (raw: RawLine) => ParsedLine;

export interface ShipOptions {
  /** Where a shipped file goes (relative to its directory); null keeps it in place. */
  moveTo: string | null;
  /** Parallel sources (hosts). */
  concurrency: number;
  dryRun: boolean;
  /** Called with byte counts as a file streams (progress). */
  onBytes?: (file: LogFile, delta: number) => void;
  onFileDone?: (result: FileResult) => void;
  /**
   * Parse and load in a worker thread per lane when the store offers it (store.threadTarget: a
   * sharded store's backends), with lineParserFor; else, and always for another `parserFor`, on this thread.
   */
  threads?: boolean;
}

/**
 * `refused`: not a regular file owned by the expected user (never read); `deferred`: modified too
 * recently or held open for writing (named may still write it), left for the next run.
 */
export type FileStatus = 'loaded' | 'skipped' | 'failed' | 'would-load' | 'refused' | 'deferred';

export interface FileResult {
  server: string;
  path: string;
  status: FileStatus;
  size: number;
  sha256: string | null;
  rows: number;
  rejects: number;
  rejectsByReason: Record<string, number>;
  movedTo: string | null;
  /** Why a file failed, was refused or deferred. */
  error: string | null;
  /** A loaded or skipped file whose rows are committed but which could not be moved away. */
  moveError: string | null;
  seconds: number;
}

export interface SourceFailure {
  server: string;
  spec: string;
  error: string;
}

export interface ShipReport {
  files: FileResult[];
  sourceFailures: SourceFailure[];
  liveSkipped: { server: string; path: string; reason: string }[];
  /** Worker threads that parsed and loaded files (one per lane of a sharded store; 0: all on the main thread). */
  loadThreads: number;
  totals: {
    files: number;
    loaded: number;
    skipped: number;
    failed: number;
    refused: number;
    deferred: number;
    /** Committed (loaded or already shipped) but not moved. */
    moveFailed: number;
    rows: number;
    rejects: number;
    seconds: number;
  };
}

/** The store is used by one file at a time: a SQLite file has one writer, a MySQL connection one transaction. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** One mutex per lane of the store (store.laneOf): a sharded store's backends load side by side. */
class Lanes {
  private readonly lanes = new Map<string, Mutex>();
  constructor(private readonly store: Store) {}
  run<T>(server: string, sha256: string, fn: () => Promise<T>): Promise<T> {
    const lane = this.store.laneOf?.(server, sha256) ?? '';
    let m = this.lanes.get(lane);
    if (m === undefined) this.lanes.set(lane, (m = new Mutex()));
    return m.run(fn);
  }
}

/** Passes bytes through while hashing them, to check that the file is the one that was hashed. */
function hashingTap(onBytes: (n: number) => void): { tap: Transform; digest: () => string } {
  const h = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  return { tap, digest: () => h.digest('hex') };
}

/**
 * The file's content (gunzipped for a `.gz` name). A read error ends it with E_READ; after the last
 * chunk, bytes that do not hash to `expectedSha` end it with E_CHANGED: a consumer that commits only
 * after the end never commits a file that changed under it.
 */
async function* fileBytes(path: string, raw: Readable, expectedSha: string, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const { tap, digest } = hashingTap(onBytes);
  raw.on('error', (err) => tap.destroy(err));
  let body: Readable = raw.pipe(tap);
  if (isGzipName(path)) {
    const gunzip = createGunzip();
    tap.on('error', (err) => gunzip.destroy(err));
    body = tap.pipe(gunzip);
  }
  try {
    for await (const chunk of body) yield chunk as Buffer;
  } catch (err) {
    throw new UserError('E_READ', errorMessage(err), { cause: err });
  }
  const actual = digest();
  if (actual !== expectedSha) {
    throw new UserError('E_CHANGED', 'changed while it was being shipped (is it still being written?); nothing from it was kept');
  }
}

/**
 * Ships one file up to its commit and starts its move. The move is not waited for here: a remote
 * source moves committed files in batches (one remote command for many), which would never fill
 * if each file waited for its own move before the next one was loaded. `settled` resolves once
 * the move is done (or failed: `moveError`, the rows stay committed); it never rejects.
 */
async function shipFile(
  store: Store,
  mutex: Lanes,
  threads: LaneThreads | null,
  file: LogFile,
  parserFor: LineParserFactory,
  opts: ShipOptions,
): Promise<{ result: FileResult; settled: Promise<void>; retry: boolean }> {
  const started = performance.now();
  let retry = false;
  const result: FileResult = {
    server: file.server,
    path: file.path,
    status: 'failed',
    size: file.size,
    sha256: null,
    rows: 0,
    rejects: 0,
    rejectsByReason: {},
    movedTo: null,
    error: null,
    moveError: null,
    seconds: 0,
  };
  let isCommitted = false;
  let move: Promise<string> | null = null;
  try {
    // One open: what is hashed, checked against the ledger and loaded is the same file.
    const opened = await file.open();
    if (opened.kind === 'refused') {
      result.status = 'refused';
      result.error = `refused: ${opened.reason}`;
    } else if (opened.kind === 'young') {
      result.status = 'deferred';
      result.error = `modified ${opened.ageSeconds}s ago (under --min-age): named may still be writing it; left for the next run`;
    } else if (opened.kind === 'busy') {
      result.status = 'deferred';
      result.error = `open for writing by ${opened.writers}: still being written; left for the next run`;
    } else {
      const log = opened.log;
      try {
        result.size = log.size;
        const sha = log.sha256;
        result.sha256 = sha;
        const shipped = await mutex.run(file.server, sha, () => store.findShipped(file.server, sha));
        // A file a run stopped in the middle of has its first lines committed: it goes on after them.
        const resume: ResumePoint | undefined =
          shipped !== null && shipped.doneLines !== null
            ? {
                fileId: shipped.id,
                doneLines: shipped.doneLines,
                rows: shipped.rows,
                rejects: shipped.rejects,
                firstTime: shipped.firstTime,
                lastTime: shipped.lastTime,
              }
            : undefined;
        if (shipped && resume === undefined) {
          result.status = 'skipped';
          result.rows = shipped.rows;
          result.rejects = shipped.rejects;
          isCommitted = true;
        } else if (opts.dryRun) {
          result.status = 'would-load';
        } else {
          const meta = { server: file.server, path: file.path, size: log.size, sha256: sha, tz: file.zone };
          const bytes = fileBytes(file.path, log.raw(), sha, (n) => opts.onBytes?.(file, n));
          const load: FileLoad = await mutex.run(file.server, sha, async () => {
            if (threads !== null && store.threadTarget !== undefined) {
              const target = await store.threadTarget(file.server, sha);
              return threads.load(target, meta, { mtimeMs: file.mtimeMs, zone: file.zone }, resume, bytes);
            }
            const lines = parsedLines(bytes, parserFor(file));
            return store.loadFile(meta, resume ? after(lines, resume.doneLines) : lines, resume);
          });
          result.status = 'loaded';
          result.rows = load.rows;
          result.rejects = load.rejects;
          result.rejectsByReason = load.rejectsByReason;
          isCommitted = true;
        }
      } finally {
        log.close();
      }
      // Only now, with the rows committed (or found committed by an earlier run), is the file moved.
      if (opts.moveTo !== null && !opts.dryRun) move = file.moveTo(opts.moveTo);
    }
  } catch (err) {
    // A failure after the commit does not undo the load: the file is reported loaded (its rows
    // are in the database) with the error, and the next run skips and moves it. (So does a
    // failed move, below.)
    if (isCommitted) result.moveError = errorMessage(err);
    else {
      result.status = 'failed';
      result.error = errorMessage(err);
      retry = isUserError(err) && err.code === 'E_RETRY';
    }
  }
  const settled = (move ?? Promise.resolve(null)).then(
    (movedTo) => {
      result.movedTo = movedTo;
    },
    (err: unknown) => {
      result.moveError = errorMessage(err);
    },
  );
  return {
    result,
    settled: settled.then(() => {
      result.seconds = (performance.now() - started) / 1000;
    }),
    retry,
  };
}

/** Loads of one file tried, when the database rolls one back over a conflict with another writer (E_RETRY). */
export const LOAD_ATTEMPTS = 4;

/** A pause before attempt `n` (1-based retries): 0.2, 0.4, 0.8 s, each ±50 % so that two writers part. */
function retryPause(n: number): Promise<void> {
  const ms = 200 * 2 ** (n - 1) * (0.5 + Math.random());
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function refusedResult(server: string, path: string, reason: string, opts: ShipOptions): FileResult {
  const result: FileResult = {
    server,
    path,
    status: 'refused',
    size: 0,
    sha256: null,
    rows: 0,
    rejects: 0,
    rejectsByReason: {},
    movedTo: null,
    error: `refused: ${reason}`,
    moveError: null,
    seconds: 0,
  };
  opts.onFileDone?.(result);
  return result;
}

export async function ship(
  store: Store,
  sources: readonly LogSource[],
  parserFor: LineParserFactory,
  opts: ShipOptions,
): Promise<ShipReport> {
  const started = performance.now();
  const mutex = new Lanes(store);
  const threads = opts.threads === true && store.threadTarget !== undefined && LANE_THREADS_AVAILABLE ? new LaneThreads() : null;
  const report: ShipReport = {
    files: [],
    sourceFailures: [],
    liveSkipped: [],
    loadThreads: 0,
    totals: { files: 0, loaded: 0, skipped: 0, failed: 0, refused: 0, deferred: 0, moveFailed: 0, rows: 0, rejects: 0, seconds: 0 },
  };
  const limit = limiter(Math.max(1, opts.concurrency));
  const shipSource = async (src: LogSource): Promise<void> => {
    try {
      const { files, skipped, refused } = await src.list();
      for (const s of skipped) report.liveSkipped.push({ server: src.server, ...s });
      for (const r of refused) report.files.push(refusedResult(src.server, r.path, r.reason, opts));
      // Results are reported in listing order, each once its move is done.
      let reported: Promise<void> = Promise.resolve();
      for (const f of files) {
        let shipped = await shipFile(store, mutex, threads, f, parserFor, opts);
        for (let n = 1; shipped.retry && n < LOAD_ATTEMPTS; n++) {
          await retryPause(n);
          shipped = await shipFile(store, mutex, threads, f, parserFor, opts);
        }
        const { result, settled } = shipped;
        if (shipped.retry) result.error = `${result.error ?? ''} (gave up after ${LOAD_ATTEMPTS} attempts; the next run ships it)`;
        report.files.push(result);
        reported = Promise.all([reported, settled]).then(() => opts.onFileDone?.(result));
      }
      await reported;
    } catch (err) {
      report.sourceFailures.push({ server: src.server, spec: src.spec, error: errorMessage(err) });
    } finally {
      await src.close();
    }
  };
  try {
    await Promise.all(sources.map((src) => limit(() => shipSource(src))));
  } finally {
    report.loadThreads = threads?.size ?? 0;
    await threads?.close();
  }
  const t = report.totals;
  for (const f of report.files) {
    t.files++;
    if (f.status === 'loaded') t.loaded++;
    else if (f.status === 'skipped') t.skipped++;
    else if (f.status === 'failed') t.failed++;
    else if (f.status === 'refused') t.refused++;
    else if (f.status === 'deferred') t.deferred++;
    if (f.moveError !== null) t.moveFailed++;
    if (f.status === 'loaded') {
      t.rows += f.rows;
      t.rejects += f.rejects;
    }
  }
  t.seconds = (performance.now() - started) / 1000;
  return report;
}
