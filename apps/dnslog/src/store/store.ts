/**
 * What a store does, whichever database is behind it. A file's rows, its rejects and its ledger
 * entry are committed in one transaction: after a crash a file is either wholly loaded or not at all.
 */
import { RollupAccumulator } from './rollup.js';
import type { QueryRow } from './row.js';
import type { TimeZone } from '../time/zone.js';
import type { MysqlConnectSettings, MysqlStoreOptions } from './mysql/settings.js';

export type SqlParam = string | number | null;

export interface FileMeta {
  server: string;
  path: string;
  size: number;
  sha256: string;
  /** The zone the file's lines were read in when they carry none (recorded in the ledger; ship always gives it). */
  tz?: string;
}

export type ParsedLine =
  | { kind: 'row'; lineNo: number; row: QueryRow }
  /**
   * `line` is the original bytes as latin1 text (one char per byte), so binary junk survives: the
   * whole line, or only its start for a line over the reader's cap, whose true length is `bytes`
   * (left out, the length is `line`'s).
   */
  | { kind: 'reject'; lineNo: number; reason: string; line: string; bytes?: number };

export interface FileLoad {
  fileId: number;
  rows: number;
  rejects: number;
  rejectsByReason: Record<string, number>;
  firstTime: string | null;
  lastTime: string | null;
}

/**
 * Lines per transaction: a file longer than this is loaded in several, each committing its rows,
 * rollups and the ledger's progress (`done_lines`) together; a run stopped between them goes on
 * after the last committed line. Bounded undo (InnoDB) and WAL (SQLite), and locks held shortly.
 */
export const LOAD_CHUNK_LINES = 1_000_000;

/** Where a partly loaded file goes on: its ledger entry and what is committed of it. */
export interface ResumePoint {
  fileId: number;
  /** The last input line committed. */
  doneLines: number;
  rows: number;
  rejects: number;
  firstTime: string | null;
  lastTime: string | null;
}

export interface ShippedFile {
  id: number;
  server: string;
  path: string;
  sha256: string;
  rows: number;
  rejects: number;
  shippedAt: string;
  /** Null when the whole file is loaded; else the last line committed (a run stopped part-way). */
  doneLines: number | null;
  firstTime: string | null;
  lastTime: string | null;
}

export interface PartitionLayout {
  granularity: 'hour' | 'day';
  aheadMs: number;
  now?: Date;
}

/** One server's stored times moved from its wall clock to UTC (migrate-utc.ts). */
export interface MigratedServer {
  server: string;
  zone: string;
  rows: number;
}

export interface SchemaStatus {
  version: number;
  created: boolean;
  /** Servers whose stored times `init` moved from their wall clock to UTC (schema version 5). */
  migrated?: MigratedServer[];
}

export interface InitOptions {
  /** MySQL's partitions, laid out at this granularity (`db init`). */
  layout?: PartitionLayout;
  /**
   * The zone each server's stored wall-clock times were written in, for a database made before
   * schema version 5 (`db init --assume-tz`). Without it such a database with rows is refused.
   */
  assumeZone?: (server: string) => TimeZone;
}

/**
 * Where a worker thread may load a file on a connection of its own, parsing it there too: the
 * database (a sharded store's backend for the file) and the load options of its store.
 */
export interface ThreadLoadTarget {
  /** The lane (laneOf) the file belongs to: one thread per lane. */
  lane: string;
  settings: MysqlConnectSettings;
  options: MysqlStoreOptions;
}

export interface Store {
  /** Printable, without secrets. */
  readonly description: string;
  /**
   * Creates the schema, or checks/migrates it; records the version. MySQL lays out partitions at
   * `layout`'s granularity (given by `db init`; when the table is new, hourly by default).
   */
  init(options?: InitOptions): Promise<SchemaStatus>;
  /** Recounts the rollup tables from the stored rows, in one transaction; returns the rows counted. */
  rebuildRollups(): Promise<number>;
  /** The schema version recorded in the database (0: none yet). */
  schemaVersion(): Promise<number>;
  findShipped(server: string, sha256: string): Promise<ShippedFile | null>;
  /**
   * Loads one file, ledger entry included, in transactions of at most `chunkLines` lines (the
   * last one commits the entry as whole); its lines come in batches. With `resume`, the file's
   * entry exists and `batches` holds only the lines after `resume.doneLines`.
   */
  loadFile(meta: FileMeta, batches: AsyncIterable<readonly ParsedLine[]>, resume?: ResumePoint): Promise<FileLoad>;
  /** Runs a read-only, parameterised query (reports). */
  select(sql: string, params: readonly SqlParam[]): Promise<Record<string, unknown>[]>;
  readonly dialect: 'sqlite' | 'mysql';
  close(): Promise<void>;
  /**
   * Calls for files in different lanes may run at once (a sharded store: one lane per backend);
   * calls in one lane, or on a store without lanes, one at a time.
   */
  laneOf?(server: string, sha256: string): string;
  /**
   * A store whose lanes are separate databases (sharded) offers each file's as a target for a worker
   * thread, which parses and loads it there (ship's `threads`): the lanes' parsing then runs on
   * several cores. The result is what loadFile would give.
   */
  threadTarget?(server: string, sha256: string): Promise<ThreadLoadTarget>;
  /** A sharded store read with `partial`: the shards that did not answer, left out of what was read. */
  readonly missing?: readonly { shard: number; url: string }[];
  /** A server-side lock (MySQL GET_LOCK) held until the returned function runs; absent for SQLite. */
  serverLock?(name: string, waitSeconds: number): Promise<() => Promise<void>>;
}

/** Running totals while a file streams through a store. */
export class LoadCounter {
  rows = 0;
  rejects = 0;
  rejectsByReason: Record<string, number> = {};
  firstTime: string | null = null;
  lastTime: string | null = null;
  /** The last input line counted, and lines counted since the last commit. */
  lastLine = 0;
  sinceCommit = 0;

  /** Goes on from a committed part of the file (its reasons are not kept: only this run's are counted). */
  static from(resume: ResumePoint | undefined): LoadCounter {
    const c = new LoadCounter();
    if (resume) {
      c.rows = resume.rows;
      c.rejects = resume.rejects;
      c.firstTime = resume.firstTime;
      c.lastTime = resume.lastTime;
      c.lastLine = resume.doneLines;
    }
    return c;
  }

  /** After a batch: counts its lines towards the next commit. */
  lines(batch: readonly ParsedLine[]): void {
    const last = batch[batch.length - 1];
    if (last) this.lastLine = last.lineNo;
    this.sinceCommit += batch.length;
  }

  /** The file's rollup rows, written with its rows. */
  readonly rollup = new RollupAccumulator();

  row(row: QueryRow): void {
    const time = row.time;
    this.rollup.add(row);
    this.rows++;
    if (this.firstTime === null || time < this.firstTime) this.firstTime = time;
    if (this.lastTime === null || time > this.lastTime) this.lastTime = time;
  }

  reject(reason: string): void {
    this.rejects++;
    this.rejectsByReason[reason] = (this.rejectsByReason[reason] ?? 0) + 1;
  }

  result(fileId: number): FileLoad {
    return {
      fileId,
      rows: this.rows,
      rejects: this.rejects,
      rejectsByReason: this.rejectsByReason,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
    };
  }
}

/** The true length in bytes of a rejected line, as stored in dnslog_rejects.line_bytes. */
export function rejectBytes(reject: Extract<ParsedLine, { kind: 'reject' }>): number {
  return reject.bytes ?? reject.line.length;
}
