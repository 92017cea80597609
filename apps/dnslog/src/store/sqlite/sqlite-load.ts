/**
 * The writing half of a file's load into SQLite: one transaction on its own connection, fed with
 * messages (`begin`, `rows`, `rollup`, `commit`, `abort`). SqliteStore runs it in a worker thread
 * (sqlite-load-worker.ts), so that SQLite's inserts and index updates on one CPU overlap the
 * reading, hashing and parsing of the file on another; or, with `inThread`, on the caller's thread.
 * The messages are plain arrays and strings: what structured cloning copies cheaply.
 */
import Database from 'better-sqlite3';
import { QUERY_COLUMNS, type SqlValue } from '../row.js';
import { ROLLUPS } from '../rollup.js';
import type { FileMeta } from '../store.js';

/** A rejected line: line number, reason, the line as latin1 text (one char per byte), its true length. */
export type RejectValues = [lineNo: number, reason: string, line: string, bytes: number];

/** Rollup rows: the index of the rollup in ROLLUPS, bucket, key, queries. */
export type RollupValues = [rollup: number, bucket: string, key: string, queries: number];

/** The ledger entry's totals, written before each commit; `doneLines` null at the last (the file is whole). */
export type FinishValues = [rows: number, rejects: number, firstTime: string | null, lastTime: string | null, doneLines: number | null];

export type LoadRequest =
  | { t: 'begin'; meta: FileMeta; shippedAt: string; resumeFileId?: number }
  /** Commits what came so far with the ledger's progress, and opens the next transaction. */
  | { t: 'checkpoint'; finish: FinishValues }
  | { t: 'rows'; rows: SqlValue[][]; rejects: RejectValues[] }
  | { t: 'rollup'; rows: RollupValues[] }
  | { t: 'commit'; finish: FinishValues }
  | { t: 'abort' };

/** The answer to each request; `fileId` only for `begin`. */
export type LoadReply = { ok: true; fileId?: number } | { ok: false; code: string | null; message: string };

/**
 * Opens a store connection with the pragmas every connection to the file uses. FULL, not NORMAL:
 * in WAL mode NORMAL does not fsync the WAL at commit, so a file's rows and ledger entry could
 * vanish on power loss after ship has moved the file to old/ (never read again). FULL fsyncs the
 * WAL before COMMIT returns: one fsync per commit, and every commit here is a whole file (or
 * schema work); a checkpoint per file would also be durable but rewrites the file's pages into
 * the database, which is slower.
 */
export function openSqlite(path: string, options: { mustExist?: boolean } = {}): Database.Database {
  const db = new Database(path, { fileMustExist: options.mustExist ?? false });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 10000');
    db.pragma('cache_size = -32768');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** One file's transaction on `db`, driven by LoadRequests; after a failure it only answers with it. */
export class SqliteFileWriter {
  private readonly insertFile: Database.Statement;
  private readonly insertRow: Database.Statement;
  private readonly insertReject: Database.Statement;
  private readonly upserts: Database.Statement[];
  private readonly finishFile: Database.Statement;
  private fileId = 0;

  constructor(private readonly db: Database.Database) {
    this.insertFile = db.prepare('INSERT INTO dnslog_files (server, path, size, sha256, shipped_at, tz) VALUES (?, ?, ?, ?, ?, ?)');
    this.insertRow = db.prepare(
      `INSERT INTO dns_queries (${QUERY_COLUMNS.join(', ')}) VALUES (${QUERY_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.insertReject = db.prepare('INSERT INTO dnslog_rejects (file_id, line_no, reason, line, line_bytes) VALUES (?, ?, ?, ?, ?)');
    // Rollup counts arrive in parts (a flood of distinct names is held in memory only so far) and
    // are added with upsert arithmetic, inside the file's transaction.
    this.upserts = ROLLUPS.map((r) =>
      db.prepare(
        `INSERT INTO ${r.table} (bucket, server, ${r.column}, queries) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET queries = queries + excluded.queries`,
      ),
    );
    this.finishFile = db.prepare(
      'UPDATE dnslog_files SET rows_loaded = ?, rejects = ?, first_time = ?, last_time = ?, done_lines = ? WHERE id = ?',
    );
  }

  private server = '';

  /**
   * Applies one request; throws what SQLite threw (the transaction is then rolled back). Rows,
   * rollups and the commit are refused outside a transaction: after a failure (or SQLite's own
   * rollback, as on SQLITE_FULL) the requests already sent must not be inserted one by one.
   */
  apply(req: LoadRequest): LoadReply {
    try {
      if (req.t !== 'begin' && req.t !== 'abort' && !this.db.inTransaction) {
        throw new Error("the file's transaction has already ended (an earlier statement failed)");
      }
      switch (req.t) {
        case 'begin':
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          this.db.exec('BEGIN IMMEDIATE');
          this.server = req.meta.server;
          this.fileId =
            req.resumeFileId ??
            Number(
              this.insertFile.run(req.meta.server, req.meta.path, req.meta.size, req.meta.sha256, req.shippedAt, req.meta.tz ?? null)
                .lastInsertRowid,
            );
          return { ok: true, fileId: this.fileId };
        case 'checkpoint':
          this.finishFile.run(...req.finish, this.fileId);
          this.db.exec('COMMIT');
          this.db.exec('BEGIN IMMEDIATE');
          return { ok: true };
        case 'rows': {
          const insertRow = this.insertRow;
          for (const v of req.rows) insertRow.run(v);
          for (const [lineNo, reason, line, bytes] of req.rejects) {
            this.insertReject.run(this.fileId, lineNo, reason, Buffer.from(line, 'latin1'), bytes);
          }
          return { ok: true };
        }
        case 'rollup':
          for (const [i, bucket, key, n] of req.rows) this.upserts[i]!.run(bucket, this.server, key, n);
          return { ok: true };
        case 'commit':
          this.finishFile.run(...req.finish, this.fileId);
          this.db.exec('COMMIT');
          return { ok: true };
        case 'abort':
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          return { ok: true };
      }
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }
}

/** A thrown value as a LoadReply (SQLite's `code`, e.g. SQLITE_FULL, is kept). */
export function failureReply(err: unknown): LoadReply {
  const code = (err as { code?: unknown } | null)?.code;
  return { ok: false, code: typeof code === 'string' ? code : null, message: err instanceof Error ? err.message : String(err) };
}
