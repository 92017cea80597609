/**
 * The embedded store: one SQLite file, WAL mode (reports read while a ship writes). A file is
 * loaded in one transaction by a writer on its own connection in a worker thread
 * (sqlite-load.ts), fed with batches of parsed rows while the next ones are read and parsed.
 */
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { UserError, errorMessage } from '@toolbox/shared';
import { ipHex } from '../ip-range.js';
import { rowValues, type SqlValue } from '../row.js';
import { ROLLUPS, ROLLUP_FLUSH_KEYS } from '../rollup.js';
import { migrateToUtc } from '../migrate-utc.js';
import { SCHEMA_VERSION, fileDoneLinesColumn, fileZoneColumn, rejectLineBytesColumn, rollupBackfill, sqliteSchema } from '../schema.js';
import {
  SqliteFileWriter,
  failureReply,
  openSqlite,
  type LoadReply,
  type LoadRequest,
  type RejectValues,
  type RollupValues,
} from './sqlite-load.js';
import {
  LOAD_CHUNK_LINES,
  LoadCounter,
  rejectBytes,
  type ResumePoint,
  type FileLoad,
  type FileMeta,
  type InitOptions,
  type MigratedServer,
  type ParsedLine,
  type SchemaStatus,
  type ShippedFile,
  type SqlParam,
  type Store,
} from '../store.js';
import { utcText } from '../../time/zone.js';

export interface SqliteStoreOptions {
  /** Distinct rollup keys held before they are added to the tables (rollup.ts ROLLUP_FLUSH_KEYS). */
  rollupFlushKeys?: number;
  /** Lines per transaction (store.ts LOAD_CHUNK_LINES). */
  chunkLines?: number;
  /**
   * Load files on this thread's connection instead of a worker thread's. The default is a worker,
   * except when this module runs from its TypeScript source (the unit tests), where the worker's
   * compiled file does not exist: the writer (sqlite-load.ts) is the same either way.
   */
  inThread?: boolean;
  /** Refuse to create the file (commands that only read): opened with SQLite's own check, no race. */
  mustExist?: boolean;
}

/** Load requests sent ahead of their answers: enough to keep the writer busy, few enough to bound memory. */
const MAX_IN_FLIGHT = 8;

/** Rollup rows per request. */
const ROLLUP_PART = 2048;

const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

export class SqliteStore implements Store {
  readonly dialect = 'sqlite';
  readonly description: string;
  readonly db: Database.Database;
  private readonly path: string;
  private readonly rollupFlushKeys: number;
  private readonly chunkLines: number;
  private readonly inThread: boolean;
  private channel: LoadChannel | null = null;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.description = `sqlite:${path}`;
    this.path = path;
    this.rollupFlushKeys = options.rollupFlushKeys ?? ROLLUP_FLUSH_KEYS;
    this.chunkLines = options.chunkLines ?? LOAD_CHUNK_LINES;
    this.inThread = options.inThread ?? RUNNING_FROM_SOURCE;
    try {
      this.db = openSqlite(path, { mustExist: options.mustExist });
      registerFunctions(this.db);
    } catch (err) {
      if (options.mustExist && (err as { code?: unknown } | null)?.code === 'SQLITE_CANTOPEN') {
        throw new UserError(
          'E_DB_MISSING',
          `cannot open SQLite database ${path}: no such file (reports read a database that ship made; check --db)`,
          {
            cause: err,
          },
        );
      }
      throw new UserError('E_DB_OPEN', `cannot open SQLite database ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  schemaVersion(): Promise<number> {
    const hasMeta = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dnslog_meta'").get();
    if (!hasMeta) return Promise.resolve(0);
    const r = this.db.prepare("SELECT value FROM dnslog_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    return Promise.resolve(r ? Number(r.value) : 0);
  }

  async init(options: InitOptions = {}): Promise<SchemaStatus> {
    const version = await this.schemaVersion();
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        'E_SCHEMA_NEWER',
        `${this.description} has schema version ${version}, newer than this dnslog (${SCHEMA_VERSION}): upgrade dnslog`,
      );
    }
    let migrated: MigratedServer[] | undefined;
    // One transaction (the times' migration is async): a migration stopped halfway is done again.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const stmt of sqliteSchema()) this.db.exec(stmt);
      // Version 1 had no rollups: count the rows already stored, in the same transaction.
      if (version > 0 && version < 2) this.recountRollups();
      // Version 3 keeps a rejected line's true length: old rejects get NULL.
      if (!this.db.prepare("SELECT 1 FROM pragma_table_info('dnslog_rejects') WHERE name = 'line_bytes'").get()) {
        this.db.exec(rejectLineBytesColumn('sqlite'));
      }
      // Version 4 records a file's progress while it loads in bounded transactions.
      if (!this.db.prepare("SELECT 1 FROM pragma_table_info('dnslog_files') WHERE name = 'done_lines'").get()) {
        this.db.exec(fileDoneLinesColumn('sqlite'));
      }
      // Version 5 stores UTC, and each file's zone.
      if (!this.db.prepare("SELECT 1 FROM pragma_table_info('dnslog_files') WHERE name = 'tz'").get()) {
        this.db.exec(fileZoneColumn('sqlite'));
      }
      if (version > 0 && version < 5) {
        const db = this.db;
        migrated = await migrateToUtc(
          {
            dialect: 'sqlite',
            all: (sql, params) => Promise.resolve(db.prepare(sql).all(...params) as Record<string, unknown>[]),
            run: (sql, params) => {
              db.prepare(sql).run(...params);
              return Promise.resolve();
            },
          },
          options.assumeZone,
        );
        if (migrated.length > 0) this.recountRollups();
      }
      this.db
        .prepare("INSERT INTO dnslog_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(String(SCHEMA_VERSION));
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    return { version: SCHEMA_VERSION, created: version === 0, ...(migrated !== undefined && migrated.length > 0 ? { migrated } : {}) };
  }

  private recountRollups(): void {
    for (const r of ROLLUPS) this.db.exec(`DELETE FROM ${r.table}`);
    for (const stmt of rollupBackfill('sqlite')) this.db.exec(stmt);
  }

  rebuildRollups(): Promise<number> {
    return Promise.resolve(
      this.db
        .transaction(() => {
          this.recountRollups();
          return Number(this.db.prepare('SELECT COALESCE(SUM(queries), 0) FROM dns_rollup_minute').pluck().get());
        })
        .immediate(),
    );
  }

  findShipped(server: string, sha256: string): Promise<ShippedFile | null> {
    const r = this.db
      .prepare(
        'SELECT id, server, path, sha256, rows_loaded AS rows, rejects, shipped_at AS shippedAt, done_lines AS doneLines, first_time AS firstTime, last_time AS lastTime FROM dnslog_files WHERE server = ? AND sha256 = ?',
      )
      .get(server, sha256) as ShippedFile | undefined;
    return Promise.resolve(r ?? null);
  }

  async loadFile(meta: FileMeta, batches: AsyncIterable<readonly ParsedLine[]>, resume?: ResumePoint): Promise<FileLoad> {
    const channel = this.loadChannel();
    const counter = LoadCounter.from(resume);
    const server = meta.server;
    // Requests are answered in order; a few are kept in flight, so the writer is never idle and
    // a slow disk holds the reading back instead of queueing the file in memory.
    const inFlight: Promise<LoadReply>[] = [];
    const settle = async (reply: Promise<LoadReply>): Promise<Extract<LoadReply, { ok: true }>> => {
      const r = await reply;
      if (!r.ok) throw this.loadError(r);
      return r;
    };
    const send = async (req: LoadRequest): Promise<void> => {
      inFlight.push(channel.request(req));
      while (inFlight.length > MAX_IN_FLIGHT) await settle(inFlight.shift()!);
    };
    // Rollup counts go in parts of ROLLUP_PART rows: a flush of a flood's 50,000 names is never
    // one message held whole on both threads at once.
    const flushRollups = async (): Promise<void> => {
      let rows: RollupValues[] = [];
      for (const [i, r] of ROLLUPS.entries()) {
        for (const [bucket, key, n] of counter.rollup.rows(r.column)) {
          rows.push([i, bucket, key, n]);
          if (rows.length >= ROLLUP_PART) {
            await send({ t: 'rollup', rows });
            rows = [];
          }
        }
      }
      counter.rollup.clear();
      if (rows.length > 0) await send({ t: 'rollup', rows });
    };
    try {
      const begun = await settle(channel.request({ t: 'begin', meta, shippedAt: utcText(), resumeFileId: resume?.fileId }));
      const fileId = begun.fileId!;
      for await (const batch of batches) {
        const rows: SqlValue[][] = [];
        const rejects: RejectValues[] = [];
        for (const item of batch) {
          if (item.kind === 'row') {
            rows.push(rowValues(item.row, server, fileId, item.lineNo));
            counter.row(item.row);
          } else {
            rejects.push([item.lineNo, item.reason, item.line, rejectBytes(item)]);
            counter.reject(item.reason);
          }
        }
        await send({ t: 'rows', rows, rejects });
        counter.lines(batch);
        if (counter.rollup.size >= this.rollupFlushKeys) await flushRollups();
        if (counter.sinceCommit >= this.chunkLines) {
          await flushRollups();
          await send({ t: 'checkpoint', finish: [counter.rows, counter.rejects, counter.firstTime, counter.lastTime, counter.lastLine] });
          counter.sinceCommit = 0;
        }
      }
      await flushRollups();
      await send({ t: 'commit', finish: [counter.rows, counter.rejects, counter.firstTime, counter.lastTime, null] });
      while (inFlight.length > 0) await settle(inFlight.shift()!);
      return counter.result(fileId);
    } catch (err) {
      // Whatever was sent after the failure is answered with a failure; then the transaction ends.
      await Promise.allSettled(inFlight.splice(0));
      await channel.request({ t: 'abort' }).catch(() => undefined);
      throw err;
    }
  }

  /** A writer's failure as the error loadFile throws: SQLite's own text names neither the database nor the disk. */
  private loadError(r: Extract<LoadReply, { ok: false }>): Error {
    if (r.code === 'SQLITE_FULL') {
      return new UserError(
        'E_DB_FULL',
        `${this.description}: database or disk is full; what this run had not committed of the file was rolled back: make room for the database and its -wal file, then ship again`,
      );
    }
    return Object.assign(new Error(r.message), { code: r.code ?? undefined });
  }

  /** The writer of file loads: a worker thread with its own connection, made at the first load. */
  private loadChannel(): LoadChannel {
    if (!this.channel) this.channel = this.inThread ? inThreadChannel(this.db) : workerChannel(this.path);
    return this.channel;
  }

  select(sql: string, params: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return Promise.resolve(this.db.prepare(sql).all(...params) as Record<string, unknown>[]);
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    try {
      await channel?.close();
    } finally {
      this.db.close();
    }
  }
}

/** What the reports need from SQL that SQLite lacks: `X REGEXP Y` and an address as hex (see ip-range.ts). */
function registerFunctions(db: Database.Database): void {
  const cache = new Map<string, RegExp>();
  db.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (typeof pattern !== 'string' || typeof value !== 'string') return 0;
    let re = cache.get(pattern);
    if (!re) {
      re = new RegExp(pattern, 'i');
      if (cache.size > 100) cache.clear();
      cache.set(pattern, re);
    }
    return re.test(value) ? 1 : 0;
  });
  db.function('dnslog_ip_hex', { deterministic: true }, (ip: unknown) => (typeof ip === 'string' ? ipHex(ip) : null));
}

/** Where load requests go: answered in the order sent. */
interface LoadChannel {
  request(req: LoadRequest): Promise<LoadReply>;
  close(): Promise<void>;
}

function inThreadChannel(db: Database.Database): LoadChannel {
  let writer: SqliteFileWriter | null = null;
  return {
    request(req) {
      try {
        writer ??= new SqliteFileWriter(db);
        return Promise.resolve(writer.apply(req));
      } catch (err) {
        return Promise.resolve(failureReply(err));
      }
    },
    close: () => Promise.resolve(),
  };
}

function workerChannel(path: string): LoadChannel {
  // The writer's garbage is short-lived (each request's arrays die once inserted): a small young
  // generation keeps a flood's peak RSS down (5 M distinct names: 226 MB, 309 MB with V8's
  // default) at no cost in speed measured.
  const worker = new Worker(new URL('./sqlite-load-worker.js', import.meta.url), {
    workerData: { path },
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  const waiting: ((reply: LoadReply) => void)[] = [];
  let gone: string | null = null;
  const fail = (why: string): void => {
    gone ??= why;
    for (const answer of waiting.splice(0)) answer({ ok: false, code: null, message: gone });
  };
  worker.on('message', (reply: LoadReply) => waiting.shift()?.(reply));
  worker.on('error', (err) => fail(`the SQLite writer thread failed: ${errorMessage(err)}`));
  worker.on('exit', (code) => fail(`the SQLite writer thread exited (code ${code})`));
  return {
    request(req) {
      if (gone !== null) return Promise.resolve({ ok: false, code: null, message: gone });
      return new Promise<LoadReply>((resolve) => {
        waiting.push(resolve);
        worker.postMessage(req);
      });
    },
    async close() {
      if (gone !== null) return;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage(null);
      await exited;
    },
  };
}
