/**
 * The embedded store: one SQLite file, WAL mode (reports read while a ship writes), one prepared
 * INSERT run inside one transaction per file.
 */
import Database from 'better-sqlite3';
import { UserError, errorMessage } from '@toolbox/shared';
import { ipHex } from './ip-range.js';
import { QUERY_COLUMNS, rowValues } from './row.js';
import { ROLLUPS, ROLLUP_FLUSH_KEYS } from './rollup.js';
import { SCHEMA_VERSION, rejectLineBytesColumn, rollupBackfill, sqliteSchema } from './schema.js';
import { LoadCounter, rejectBytes, utcNowText, type FileLoad, type FileMeta, type ParsedLine, type SchemaStatus, type ShippedFile, type SqlParam, type Store } from './store.js';

export interface SqliteStoreOptions {
  /** Distinct rollup keys held before they are added to the tables (rollup.ts ROLLUP_FLUSH_KEYS). */
  rollupFlushKeys?: number;
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite';
  readonly description: string;
  readonly db: Database.Database;
  private readonly rollupFlushKeys: number;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.description = `sqlite:${path}`;
    this.rollupFlushKeys = options.rollupFlushKeys ?? ROLLUP_FLUSH_KEYS;
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      // FULL, not NORMAL: in WAL mode NORMAL does not fsync the WAL at commit, so a file's rows and
      // ledger entry can vanish on power loss after ship has moved the file to old/ (never read
      // again). FULL fsyncs the WAL before COMMIT returns. It costs one fsync per commit, and every
      // commit here is a whole file (or schema work); a checkpoint per file would also be durable
      // but rewrites the file's pages into the database, which is slower.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 10000');
      this.db.pragma('cache_size = -32768');
      registerFunctions(this.db);
    } catch (err) {
      throw new UserError('E_DB_OPEN', `cannot open SQLite database ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  schemaVersion(): Promise<number> {
    const hasMeta = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dnslog_meta'").get();
    if (!hasMeta) return Promise.resolve(0);
    const r = this.db.prepare("SELECT value FROM dnslog_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    return Promise.resolve(r ? Number(r.value) : 0);
  }

  async init(): Promise<SchemaStatus> {
    const version = await this.schemaVersion();
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        'E_SCHEMA_NEWER',
        `${this.description} has schema version ${version}, newer than this dnslog (${SCHEMA_VERSION}): upgrade dnslog`,
      );
    }
    this.db.transaction(() => {
      for (const stmt of sqliteSchema()) this.db.exec(stmt);
      // Version 1 had no rollups: count the rows already stored, in the same transaction.
      if (version > 0 && version < 2) this.recountRollups();
      // Version 3 keeps a rejected line's true length: old rejects get NULL.
      if (!this.db.prepare("SELECT 1 FROM pragma_table_info('dnslog_rejects') WHERE name = 'line_bytes'").get()) {
        this.db.exec(rejectLineBytesColumn('sqlite'));
      }
      this.db
        .prepare("INSERT INTO dnslog_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(String(SCHEMA_VERSION));
    })();
    return { version: SCHEMA_VERSION, created: version === 0 };
  }

  private recountRollups(): void {
    for (const r of ROLLUPS) this.db.exec(`DELETE FROM ${r.table}`);
    for (const stmt of rollupBackfill('sqlite')) this.db.exec(stmt);
  }

  rebuildRollups(): Promise<number> {
    return Promise.resolve(
      this.db.transaction(() => {
        this.recountRollups();
        return Number(this.db.prepare('SELECT COALESCE(SUM(queries), 0) FROM dns_rollup_minute').pluck().get());
      }).immediate(),
    );
  }

  findShipped(server: string, sha256: string): Promise<ShippedFile | null> {
    const r = this.db
      .prepare(
        'SELECT id, server, path, sha256, rows_loaded AS rows, rejects, shipped_at AS shippedAt FROM dnslog_files WHERE server = ? AND sha256 = ?',
      )
      .get(server, sha256) as ShippedFile | undefined;
    return Promise.resolve(r ?? null);
  }

  async loadFile(meta: FileMeta, batches: AsyncIterable<readonly ParsedLine[]>): Promise<FileLoad> {
    const db = this.db;
    const insertFile = db.prepare(
      'INSERT INTO dnslog_files (server, path, size, sha256, shipped_at) VALUES (?, ?, ?, ?, ?)',
    );
    const insertRow = db.prepare(
      `INSERT INTO dns_queries (${QUERY_COLUMNS.join(', ')}) VALUES (${QUERY_COLUMNS.map(() => '?').join(', ')})`,
    );
    const insertReject = db.prepare('INSERT INTO dnslog_rejects (file_id, line_no, reason, line, line_bytes) VALUES (?, ?, ?, ?, ?)');
    const upserts = ROLLUPS.map((r) => ({
      column: r.column,
      stmt: db.prepare(
        `INSERT INTO ${r.table} (bucket, server, ${r.column}, queries) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET queries = queries + excluded.queries`,
      ),
    }));
    const finishFile = db.prepare(
      'UPDATE dnslog_files SET rows_loaded = ?, rejects = ?, first_time = ?, last_time = ? WHERE id = ?',
    );
    const counter = new LoadCounter();
    // Partial rollup counts are added with upsert arithmetic, inside the transaction: a flood of
    // distinct names is held in memory only up to rollupFlushKeys at a time.
    const flushRollups = (): void => {
      for (const u of upserts) for (const [bucket, key, n] of counter.rollup.rows(u.column)) u.stmt.run(bucket, meta.server, key, n);
      counter.rollup.clear();
    };
    db.exec('BEGIN IMMEDIATE');
    try {
      const fileId = Number(insertFile.run(meta.server, meta.path, meta.size, meta.sha256, utcNowText()).lastInsertRowid);
      for await (const batch of batches) {
        for (const item of batch) {
          if (item.kind === 'row') {
            insertRow.run(rowValues(item.row, meta.server, fileId, item.lineNo));
            counter.row(item.row);
          } else {
            insertReject.run(fileId, item.lineNo, item.reason, Buffer.from(item.line, 'latin1'), rejectBytes(item));
            counter.reject(item.reason);
          }
        }
        if (counter.rollup.size >= this.rollupFlushKeys) flushRollups();
      }
      flushRollups();
      finishFile.run(counter.rows, counter.rejects, counter.firstTime, counter.lastTime, fileId);
      db.exec('COMMIT');
      return counter.result(fileId);
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      // SQLite's own text names neither the database nor the disk.
      if ((err as { code?: unknown } | null)?.code === 'SQLITE_FULL') {
        throw new UserError(
          'E_DB_FULL',
          `${this.description}: database or disk is full; nothing of this file was kept: make room for the database and its -wal file, then ship again`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  select(sql: string, params: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    return Promise.resolve(this.db.prepare(sql).all(...params) as Record<string, unknown>[]);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
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
