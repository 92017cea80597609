/**
 * The MySQL/MariaDB store. Rows go in through `LOAD DATA LOCAL INFILE` fed from a stream (mysql2's
 * infileStreamFactory): TSV chunks are made as the log is read, so memory does not grow with the
 * file. Rows, rejects and the ledger entry are one transaction.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import mysqlCore from 'mysql2';
import mysql from 'mysql2/promise';
import { UserError, errorMessage, isUserError } from '@toolbox/shared';
import type { DbTarget } from '../db-url.js';
import { parseOptionFile, type ClientOptions } from './option-file.js';
import { cellText, QUERY_COLUMNS, rowValues, tsvLine } from '../row.js';
import { maintainPartitions, syncRollupPartitions } from './partition-admin.js';
import { ROLLUPS, ROLLUP_FLUSH_KEYS } from '../rollup.js';
import { migrateToUtc } from '../migrate-utc.js';
import { SCHEMA_VERSION, fileDoneLinesColumn, fileZoneColumn, mysqlSchema, rejectLineBytesColumn, rollupBackfill } from '../schema.js';
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
import type { MysqlConnectSettings, MysqlStoreOptions } from './settings.js';

export type { MysqlConnectSettings, MysqlStoreOptions } from './settings.js';

type MysqlTarget = Extract<DbTarget, { kind: 'mysql' }>;

/** Bytes of TSV gathered before a chunk is handed to the connection. */
const CHUNK_BYTES = 256 * 1024;
const LOAD_ROWS_SQL = `LOAD DATA LOCAL INFILE 'dnslog-rows.tsv' INTO TABLE dns_queries CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${QUERY_COLUMNS.join(', ')})`;
const LOAD_REJECTS_SQL = `LOAD DATA LOCAL INFILE 'dnslog-rejects.tsv' INTO TABLE dnslog_rejects CHARACTER SET binary
  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (file_id, line_no, reason, line, line_bytes)`;

/** Merges the URL, the option file and the environment: URL wins, the password never comes from argv. */
export function mysqlSettings(
  t: MysqlTarget,
  env: NodeJS.ProcessEnv,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): MysqlConnectSettings {
  let opts: ClientOptions = {};
  if (t.optionFile !== undefined) {
    try {
      opts = parseOptionFile(readFile(t.optionFile));
    } catch (err) {
      throw new UserError('E_DB_CONFIG', `cannot read option file ${t.optionFile}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const user = t.user ?? opts.user;
  if (user === undefined)
    throw new UserError('E_DB_CONFIG', 'no database user: put it in the URL (mysql://USER@host/db) or the option file');
  return {
    host: t.host,
    port: t.port,
    user,
    password: env.DNSLOG_DB_PASSWORD ?? opts.password,
    database: t.database,
    socketPath: t.socketPath ?? opts.socket,
    ssl: tlsOptions(t, readFile),
  };
}

/** `?ssl=required` encrypts; `?ssl=verify-full` also verifies the certificate (against `?ca=`) and the host name. */
function tlsOptions(t: MysqlTarget, readFile: (p: string) => string): MysqlConnectSettings['ssl'] {
  if (t.ssl === undefined) return undefined;
  if (t.ssl === 'required') return { rejectUnauthorized: false };
  if (t.ca === undefined) return { rejectUnauthorized: true };
  try {
    return { ca: readFile(t.ca), rejectUnauthorized: true };
  } catch (err) {
    throw new UserError('E_DB_CONFIG', `cannot read the CA certificate ${t.ca} (?ca=): ${errorMessage(err)}`, { cause: err });
  }
}

export class MysqlStore implements Store {
  readonly dialect = 'mysql';
  readonly description: string;
  private conn: mysql.Connection | null = null;
  /** A stream that the next LOAD DATA statement sends. */
  private pendingInfile: Readable | null = null;
  private readonly rollupFlushKeys: number;
  private readonly chunkLines: number;

  constructor(
    private readonly settings: MysqlConnectSettings,
    private readonly now: () => Date = () => new Date(),
    options: MysqlStoreOptions = {},
  ) {
    this.description = `mysql://${settings.user}@${settings.host}:${settings.port}/${settings.database}`;
    this.rollupFlushKeys = options.rollupFlushKeys ?? ROLLUP_FLUSH_KEYS;
    this.chunkLines = options.chunkLines ?? LOAD_CHUNK_LINES;
  }

  /** Its load options as given (a worker thread loading into the same database makes its own store with them). */
  get storeOptions(): MysqlStoreOptions {
    return { rollupFlushKeys: this.rollupFlushKeys, chunkLines: this.chunkLines };
  }

  /** What it connects with (the sharded store's front makes its server definitions from them). */
  get connectSettings(): Readonly<MysqlConnectSettings> {
    return this.settings;
  }

  async connection(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    try {
      this.conn = await mysql.createConnection({
        ...this.connectOptions(),
        infileStreamFactory: () => {
          const stream = this.pendingInfile;
          this.pendingInfile = null;
          if (!stream) throw new Error('server asked for a LOCAL INFILE that dnslog did not send');
          return stream;
        },
      });
    } catch (err) {
      throw new UserError('E_DB_CONNECT', `cannot connect to ${this.description}: ${errorMessage(err)}`, { cause: err });
    }
    return this.conn;
  }

  private connectOptions(): mysql.ConnectionOptions {
    const s = this.settings;
    return {
      host: s.host,
      port: s.port,
      user: s.user,
      password: s.password,
      database: s.database,
      socketPath: s.socketPath,
      ssl: s.ssl,
      connectTimeout: 10_000,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
      charset: 'utf8mb4',
    };
  }

  /** Another connection like the first (promise API, no LOCAL INFILE), for work done beside it; the caller ends it. */
  async extraConnection(): Promise<mysql.Connection> {
    try {
      return await mysql.createConnection(this.connectOptions());
    } catch (err) {
      throw new UserError('E_DB_CONNECT', `cannot connect to ${this.description}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** A second connection (callback API) for streaming a large result while the first one works. */
  streamingConnection(): Promise<mysqlCore.Connection> {
    const conn = mysqlCore.createConnection(this.connectOptions());
    return new Promise((resolve, reject) => {
      conn.connect((err) => {
        if (err) reject(new UserError('E_DB_CONNECT', `cannot connect to ${this.description}: ${errorMessage(err)}`, { cause: err }));
        else resolve(conn);
      });
    });
  }

  async schemaVersion(): Promise<number> {
    return Number((await this.metaValue('schema_version')) ?? 0);
  }

  /** A value kept in dnslog_meta (the schema version, a backend's shard number…), or null: none, or no table yet. */
  async metaValue(name: string): Promise<string | null> {
    const conn = await this.connection();
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dnslog_meta'",
    );
    if (tables.length === 0) return null;
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT value FROM dnslog_meta WHERE name = ?', [name]);
    return rows[0] ? String(rows[0].value) : null;
  }

  async init(options: InitOptions = {}): Promise<SchemaStatus> {
    const layout = options.layout;
    const conn = await this.connection();
    const version = await this.schemaVersion();
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        'E_SCHEMA_NEWER',
        `${this.description} has schema version ${version}, newer than this dnslog (${SCHEMA_VERSION}): upgrade dnslog`,
      );
    }
    // A new table starts at yesterday's midnight; the partitions after it are laid out below.
    const now = layout?.now ?? this.now();
    const yesterday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - 86_400_000);
    for (const stmt of mysqlSchema(yesterday)) await conn.query(stmt);
    // Version 3 keeps a rejected line's true length (old rejects get NULL). DDL commits on its own:
    // looked up first, so that a migration killed after it runs again.
    const [lineBytes] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dnslog_rejects' AND COLUMN_NAME = 'line_bytes'",
    );
    if (lineBytes.length === 0) await conn.query(rejectLineBytesColumn('mysql'));
    // Version 4: a file's progress while it loads in bounded transactions.
    const [doneLines] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dnslog_files' AND COLUMN_NAME = 'done_lines'",
    );
    if (doneLines.length === 0) await conn.query(fileDoneLinesColumn('mysql'));
    // Version 5: UTC times, and each file's zone.
    const [tz] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dnslog_files' AND COLUMN_NAME = 'tz'",
    );
    if (tz.length === 0) await conn.query(fileZoneColumn('mysql'));
    // The rollups follow the rows' partitions (a table left unpartitioned by an old version is
    // reported by partitions and prune, with how to migrate it).
    // `db init` lays the partitions out at its granularity, as `dnslog partitions` does; a ship that
    // makes the table does so hourly, 24 hours ahead (the same defaults).
    const plan = layout ?? (version === 0 ? { granularity: 'hour' as const, aheadMs: 24 * 3_600_000 } : null);
    await (
      plan === null
        ? syncRollupPartitions(conn, this.description)
        : maintainPartitions(conn, this.description, { now, granularity: plan.granularity, aheadMs: plan.aheadMs, dryRun: false })
    ).catch((err: unknown) => {
      if (!(isUserError(err) && err.code === 'E_NOT_PARTITIONED')) throw err;
    });
    // DDL commits on its own; the back-fill, the times' move to UTC and the new version are one
    // transaction, so a migration killed halfway is simply done again.
    let migrated: MigratedServer[] | undefined;
    await conn.beginTransaction();
    try {
      if (version > 0 && version < 2) await recountRollups(conn);
      if (version > 0 && version < 5) {
        migrated = await migrateToUtc(
          {
            dialect: 'mysql',
            all: async (sql, params) => (await conn.query<mysql.RowDataPacket[]>(sql, [...params]))[0],
            run: async (sql, params) => {
              await conn.query(sql, [...params]);
            },
          },
          options.assumeZone,
        );
        if (migrated.length > 0) await recountRollups(conn);
      }
      await conn.query("INSERT INTO dnslog_meta (name, value) VALUES ('schema_version', ?) ON DUPLICATE KEY UPDATE value = VALUES(value)", [
        String(SCHEMA_VERSION),
      ]);
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
    return { version: SCHEMA_VERSION, created: version === 0, ...(migrated !== undefined && migrated.length > 0 ? { migrated } : {}) };
  }

  async rebuildRollups(): Promise<number> {
    const conn = await this.connection();
    await conn.beginTransaction();
    try {
      await recountRollups(conn);
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COALESCE(SUM(queries), 0) AS n FROM dns_rollup_minute');
      await conn.commit();
      return Number(rows[0]?.n ?? 0);
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
  }

  async findShipped(server: string, sha256: string): Promise<ShippedFile | null> {
    const conn = await this.connection();
    const [rows] = await conn.execute<mysql.RowDataPacket[]>(
      'SELECT id, server, path, sha256, rows_loaded AS `rows`, rejects, shipped_at AS shippedAt, done_lines AS doneLines, first_time AS firstTime, last_time AS lastTime FROM dnslog_files WHERE server = ? AND sha256 = ?',
      [server, sha256],
    );
    const r = rows[0];
    if (!r) return null;
    // As the rows' times are written (`…:SS.mmm`): the driver leaves a zero fraction off.
    const text = (v: unknown): string | null =>
      v === null || v === undefined ? null : cellText(v).replace(/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$/, '$1.000');
    return {
      id: Number(r.id),
      server: String(r.server),
      path: String(r.path),
      sha256: String(r.sha256),
      rows: Number(r.rows),
      rejects: Number(r.rejects),
      shippedAt: String(r.shippedAt),
      doneLines: r.doneLines === null || r.doneLines === undefined ? null : Number(r.doneLines),
      firstTime: text(r.firstTime),
      lastTime: text(r.lastTime),
    };
  }

  async loadFile(meta: FileMeta, batches: AsyncIterable<readonly ParsedLine[]>, resume?: ResumePoint): Promise<FileLoad> {
    const conn = await this.connection();
    const counter = LoadCounter.from(resume);
    // Rejects are spooled to a temporary file while the rows stream (one connection carries one
    // LOAD DATA at a time), then loaded in the same transaction.
    let spool = RejectSpool.create();
    let spooled = counter.rejects;
    try {
      await conn.beginTransaction();
    } catch (err) {
      spool.remove();
      throw err;
    }
    /** Loads the spooled rejects (the caller's transaction) and starts a new spool. */
    const loadRejects = async (): Promise<void> => {
      await spool.close();
      const n = counter.rejects - spooled;
      if (n > 0) {
        this.pendingInfile = createReadStream(spool.path);
        const [rejects] = await conn.query<mysql.ResultSetHeader>(LOAD_REJECTS_SQL);
        await checkLoad(conn, rejects, n, 'dnslog_rejects');
      }
      spool.remove();
      spool = RejectSpool.create();
      spooled = counter.rejects;
    };
    const recordProgress = (doneLines: number | null) =>
      conn.execute('UPDATE dnslog_files SET rows_loaded = ?, rejects = ?, first_time = ?, last_time = ?, done_lines = ? WHERE id = ?', [
        counter.rows,
        counter.rejects,
        counter.firstTime,
        counter.lastTime,
        doneLines,
        fileId,
      ]);
    let fileId = resume?.fileId ?? 0;
    try {
      if (resume === undefined) {
        const [ins] = await conn.execute<mysql.ResultSetHeader>(
          'INSERT INTO dnslog_files (server, path, size, sha256, shipped_at, tz) VALUES (?, ?, ?, ?, ?, ?)',
          [meta.server, meta.path, meta.size, meta.sha256, utcText(), meta.tz ?? null],
        );
        fileId = ins.insertId;
      }
      // The rows go in as one LOAD DATA per segment: a segment ends at the end of the file, when
      // the rollup counts hold rollupFlushKeys distinct keys (a flood of distinct names; the counts
      // are then added to the rollup tables and forgotten), or after chunkLines lines, when what
      // came so far is committed with the ledger's progress and a new transaction begins.
      const source = batches[Symbol.asyncIterator]();
      const segment: Segment = { rows: 0, isLast: false };
      const isFull = () => counter.rollup.size >= this.rollupFlushKeys || counter.sinceCommit >= this.chunkLines;
      while (!segment.isLast) {
        segment.rows = 0;
        this.pendingInfile = Readable.from(tsvChunks(source, segment, isFull, meta.server, fileId, counter, spool), { objectMode: false });
        const [rows] = await conn.query<mysql.ResultSetHeader>(LOAD_ROWS_SQL);
        await checkLoad(conn, rows, segment.rows, 'dns_queries');
        await upsertRollups(conn, meta.server, counter);
        if (!segment.isLast && counter.sinceCommit >= this.chunkLines) {
          await loadRejects();
          await recordProgress(counter.lastLine);
          await conn.commit();
          await conn.beginTransaction();
          counter.sinceCommit = 0;
        }
      }
      await loadRejects();
      await recordProgress(null);
      await conn.commit();
      return counter.result(fileId);
    } catch (err) {
      this.pendingInfile = null;
      await conn.rollback().catch(() => undefined);
      throw this.lostConnection(err) ?? this.conflict(err) ?? err;
    } finally {
      spool.remove();
    }
  }

  /**
   * A dead connection (the server killed or restarted, the network cut) as one line naming the
   * database: mysql2's own text (`read ECONNRESET`) reads as if the log file could not be read.
   * The connection is not made again within the run: the ship lock (GET_LOCK) went with it.
   */
  private lostConnection(err: unknown): UserError | null {
    if ((err as { fatal?: unknown } | null)?.fatal !== true) return null;
    return new UserError(
      'E_DB_LOST',
      `lost the connection to ${this.description} (${oneLine(errorMessage(err))}); what the server had not committed is rolled back, the file is not moved, and the next run ships it`,
      { cause: err },
    );
  }

  /**
   * A deadlock (1213) or a row lock waited out (1205) against another writer: InnoDB rolled the
   * file's transaction back; ship loads the file again from the start (E_RETRY).
   */
  private conflict(err: unknown): UserError | null {
    const errno = (err as { errno?: unknown } | null)?.errno;
    if (errno !== 1213 && errno !== 1205) return null;
    return new UserError(
      'E_RETRY',
      `${errno === 1213 ? 'deadlock' : 'lock wait timeout'} against another writer on ${this.description} (${oneLine(errorMessage(err))}); the file's transaction was rolled back`,
      { cause: err },
    );
  }

  async select(sql: string, params: readonly SqlParam[]): Promise<Record<string, unknown>[]> {
    const conn = await this.connection();
    const [rows] = await conn.query<mysql.RowDataPacket[]>(sql, [...params]);
    return rows;
  }

  async close(): Promise<void> {
    if (this.conn) await this.conn.end().catch(() => undefined);
    this.conn = null;
  }

  /**
   * GET_LOCK on this store's connection, held until released or the connection ends: it keeps
   * ship, prune, partitions and rebuild-rollups apart on whichever hosts they run, and no local
   * user can block it with a file.
   */
  async serverLock(name: string, waitSeconds: number): Promise<() => Promise<void>> {
    const conn = await this.connection();
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [name, waitSeconds]);
    if (Number(rows[0]?.got) !== 1) {
      const [held] = await conn
        .query<mysql.RowDataPacket[]>(
          'SELECT p.ID AS id, p.HOST AS host FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)',
          [name],
        )
        .catch(() => [[] as mysql.RowDataPacket[]]);
      const by = held[0] ? `connection ${String(held[0].id)} from ${String(held[0].host)}` : 'another connection';
      throw new UserError(
        'E_LOCKED',
        `lock ${name} on ${this.description} is held by ${by} (another dnslog ship, prune or partitions run)${waitSeconds > 0 ? ` for over ${waitSeconds}s` : ''}; wait for it to finish`,
      );
    }
    return async () => {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
    };
  }
}

/** Empties the rollups and counts them again from dns_queries (inside the caller's transaction). */
async function recountRollups(conn: mysql.Connection): Promise<void> {
  for (const r of ROLLUPS) await conn.query(`DELETE FROM ${r.table}`);
  for (const stmt of rollupBackfill('mysql')) await conn.query(stmt);
}

function byRollupKey(a: readonly [string, string, number], b: readonly [string, string, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  const x = a[1].toLowerCase();
  const y = b[1].toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Rollup rows per multi-row INSERT. */
const ROLLUP_BATCH = 1000;

/**
 * Adds the counts held so far to the rollups (multi-row upserts, values escaped by the driver) and
 * forgets them: `queries = queries + new`, so several flushes of one file add up to one.
 */
async function upsertRollups(conn: mysql.Connection, server: string, counter: LoadCounter): Promise<void> {
  for (const { table, column } of ROLLUPS) {
    // In key order (the tables' primary key, names case-insensitively as their collation): two
    // writers upserting overlapping keys then take their row locks in one order, not crosswise.
    const rows = counter.rollup.rows(column).sort(byRollupKey);
    for (let i = 0; i < rows.length; i += ROLLUP_BATCH) {
      const values = rows.slice(i, i + ROLLUP_BATCH).map(([bucket, key, n]) => [bucket, server, key, n]);
      await conn.query(
        `INSERT INTO ${table} (bucket, server, ${column}, queries) VALUES ? ON DUPLICATE KEY UPDATE queries = queries + VALUES(queries)`,
        [values],
      );
    }
  }
  counter.rollup.clear();
}

/**
 * With LOCAL, MariaDB and MySQL turn conversion and duplicate-key errors into warnings (LOCAL
 * implies IGNORE): a value too long is cut, a duplicate skipped, and the statement succeeds. A load
 * counts only with every row sent stored and no warning; anything else fails the file (the caller
 * rolls back) with the server's first warning.
 */
export async function checkLoad(conn: mysql.Connection, result: mysql.ResultSetHeader, sent: number, table: string): Promise<void> {
  const warnings = result.warningStatus;
  if (result.affectedRows === sent && warnings === 0) return;
  let first = '';
  if (warnings > 0) {
    const [shown] = await conn.query<mysql.RowDataPacket[]>('SHOW WARNINGS LIMIT 1');
    const w = shown[0];
    if (w) first = `: ${String(w.Level)} ${String(w.Code)}: ${String(w.Message)}`;
  }
  throw new UserError(
    'E_LOAD_WARNINGS',
    oneLine(
      `LOAD DATA into ${table} stored ${result.affectedRows} of ${sent} rows with ${warnings} warning(s)${first}; what this run had not committed of the file was rolled back`,
    ),
  );
}

/** Server text on one line, control characters shown as `?`. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(/\p{Cc}/gu, '?');
}

/**
 * The rejects spool: a temporary file in $TMPDIR. Its write errors (ENOSPC, EIO) reject the load
 * with one line naming the file, rather than crashing the process (an 'error' event nobody
 * listens to) or leaving it waiting forever for a 'drain' that never comes, inside an open transaction.
 */
class RejectSpool {
  private failure: UserError | null = null;

  private constructor(
    readonly dir: string,
    readonly path: string,
    private readonly stream: WriteStream,
  ) {
    stream.on('error', (err) => {
      this.failure ??= spoolError(path, err);
    });
  }

  static create(): RejectSpool {
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), 'dnslog-rejects-'));
    } catch (err) {
      throw spoolError(join(tmpdir(), 'dnslog-rejects-*'), err);
    }
    const path = join(dir, 'rejects.tsv');
    return new RejectSpool(dir, path, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.stream.write(chunk)) return;
    // events.once rejects on 'error': a failed write never leaves the load waiting for 'drain'.
    await once(this.stream, 'drain').catch((err: unknown) => {
      throw this.failure ?? spoolError(this.path, err);
    });
  }

  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    this.stream.end();
    await finished(this.stream).catch((err: unknown) => {
      throw this.failure ?? spoolError(this.path, err);
    });
  }

  remove(): void {
    this.stream.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function spoolError(path: string, err: unknown): UserError {
  return new UserError('E_SPOOL', `cannot write the rejects spool ${path}: ${errorMessage(err)} (set TMPDIR to a file system with room)`, {
    cause: err,
  });
}

/** One LOAD DATA statement's share of a file: the rows it carries, and whether the file ends with it. */
interface Segment {
  rows: number;
  isLast: boolean;
}

/**
 * The rows of one file as TSV chunks for LOAD DATA; rejects go to `spool` as TSV of
 * (file_id, line_no, reason, line, line_bytes) with the line's original bytes.
 */
async function* tsvChunks(
  source: AsyncIterator<readonly ParsedLine[]>,
  segment: Segment,
  isFull: () => boolean,
  server: string,
  fileId: number,
  counter: LoadCounter,
  spool: RejectSpool,
): AsyncGenerator<Buffer> {
  let buf = '';
  // Not `for await`: leaving that loop would close `source`, which the next segment goes on reading.
  for (;;) {
    const next = await source.next();
    if (next.done === true) {
      segment.isLast = true;
      break;
    }
    const batch = next.value;
    let rejects = '';
    for (const item of batch) {
      if (item.kind === 'row') {
        buf += tsvLine(rowValues(item.row, server, fileId, item.lineNo));
        counter.row(item.row);
        segment.rows++;
      } else {
        counter.reject(item.reason);
        rejects += tsvLine([fileId, item.lineNo, item.reason, item.line, rejectBytes(item)]);
      }
    }
    if (rejects !== '') await spool.write(Buffer.from(rejects, 'latin1'));
    counter.lines(batch);
    if (buf.length >= CHUNK_BYTES) {
      yield Buffer.from(buf, 'utf8');
      buf = '';
    }
    if (isFull()) break;
  }
  if (buf.length > 0) yield Buffer.from(buf, 'utf8');
}
