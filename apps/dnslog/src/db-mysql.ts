/**
 * The MySQL/MariaDB store. Rows go in through `LOAD DATA LOCAL INFILE` fed from a stream (mysql2's
 * infileStreamFactory): TSV chunks are made as the log is read, so memory does not grow with the
 * file. Rows, rejects and the ledger entry are one transaction.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import mysqlCore from 'mysql2';
import mysql from 'mysql2/promise';
import { UserError, errorMessage, isUserError } from '@toolbox/shared';
import type { DbTarget } from './db-url.js';
import { parseOptionFile, type ClientOptions } from './option-file.js';
import { QUERY_COLUMNS, rowValues, tsvLine } from './row.js';
import { syncRollupPartitions } from './partition-admin.js';
import { ROLLUPS } from './rollup.js';
import { SCHEMA_VERSION, mysqlSchema, rollupBackfill } from './schema.js';
import { LoadCounter, utcNowText, type FileLoad, type FileMeta, type ParsedLine, type SchemaStatus, type ShippedFile, type SqlParam, type Store } from './store.js';

type MysqlTarget = Extract<DbTarget, { kind: 'mysql' }>;

/** Bytes of TSV gathered before a chunk is handed to the connection. */
const CHUNK_BYTES = 256 * 1024;
const LOAD_ROWS_SQL = `LOAD DATA LOCAL INFILE 'dnslog-rows.tsv' INTO TABLE dns_queries CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${QUERY_COLUMNS.join(', ')})`;
const LOAD_REJECTS_SQL = `LOAD DATA LOCAL INFILE 'dnslog-rejects.tsv' INTO TABLE dnslog_rejects CHARACTER SET binary
  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (file_id, line_no, reason, line)`;

export interface MysqlConnectSettings {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  socketPath: string | undefined;
}

/** Merges the URL, the option file and the environment: URL wins, the password never comes from argv. */
export function mysqlSettings(t: MysqlTarget, env: NodeJS.ProcessEnv, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): MysqlConnectSettings {
  let opts: ClientOptions = {};
  if (t.optionFile !== undefined) {
    try {
      opts = parseOptionFile(readFile(t.optionFile));
    } catch (err) {
      throw new UserError('E_DB_CONFIG', `cannot read option file ${t.optionFile}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const user = t.user ?? opts.user;
  if (user === undefined) throw new UserError('E_DB_CONFIG', 'no database user: put it in the URL (mysql://USER@host/db) or the option file');
  return {
    host: t.host,
    port: t.port,
    user,
    password: env.DNSLOG_DB_PASSWORD ?? opts.password,
    database: t.database,
    socketPath: t.socketPath ?? opts.socket,
  };
}

export class MysqlStore implements Store {
  readonly dialect = 'mysql';
  readonly description: string;
  private conn: mysql.Connection | null = null;
  /** A stream that the next LOAD DATA statement sends. */
  private pendingInfile: Readable | null = null;

  constructor(
    private readonly settings: MysqlConnectSettings,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.description = `mysql://${settings.user}@${settings.host}:${settings.port}/${settings.database}`;
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
    const conn = await this.connection();
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dnslog_meta'",
    );
    if (tables.length === 0) return 0;
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT value FROM dnslog_meta WHERE name = 'schema_version'");
    return rows[0] ? Number(rows[0].value) : 0;
  }

  async init(): Promise<SchemaStatus> {
    const conn = await this.connection();
    const version = await this.schemaVersion();
    if (version > SCHEMA_VERSION) {
      throw new UserError('E_SCHEMA_NEWER', `${this.description} has schema version ${version}, newer than this dnslog (${SCHEMA_VERSION}): upgrade dnslog`);
    }
    const today = this.now();
    const firstDay = new Date(Date.UTC(today.getFullYear(), today.getMonth(), today.getDate()) - 86_400_000);
    for (const stmt of mysqlSchema(firstDay, 4)) await conn.query(stmt);
    // The rollups follow the rows' partitions (a table left unpartitioned by an old version is
    // reported by partitions and prune, with how to migrate it).
    await syncRollupPartitions(conn, this.description).catch((err: unknown) => {
      if (!(isUserError(err) && err.code === 'E_NOT_PARTITIONED')) throw err;
    });
    // DDL commits on its own; the back-fill and the new version are one transaction, so a migration
    // killed halfway is simply done again.
    await conn.beginTransaction();
    try {
      if (version > 0 && version < 2) await recountRollups(conn);
      await conn.query(
        "INSERT INTO dnslog_meta (name, value) VALUES ('schema_version', ?) ON DUPLICATE KEY UPDATE value = VALUES(value)",
        [String(SCHEMA_VERSION)],
      );
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
    return { version: SCHEMA_VERSION, created: version === 0 };
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
      'SELECT id, server, path, sha256, rows_loaded AS `rows`, rejects, shipped_at AS shippedAt FROM dnslog_files WHERE server = ? AND sha256 = ?',
      [server, sha256],
    );
    const r = rows[0];
    return r ? { id: Number(r.id), server: String(r.server), path: String(r.path), sha256: String(r.sha256), rows: Number(r.rows), rejects: Number(r.rejects), shippedAt: String(r.shippedAt) } : null;
  }

  async loadFile(meta: FileMeta, batches: AsyncIterable<readonly ParsedLine[]>): Promise<FileLoad> {
    const conn = await this.connection();
    const counter = new LoadCounter();
    // Rejects are spooled to a temporary file while the rows stream (one connection carries one
    // LOAD DATA at a time), then loaded in the same transaction.
    const spoolDir = mkdtempSync(join(tmpdir(), 'dnslog-rejects-'));
    const spoolPath = join(spoolDir, 'rejects.tsv');
    const spool = createWriteStream(spoolPath);
    await conn.beginTransaction();
    try {
      const [ins] = await conn.execute<mysql.ResultSetHeader>(
        'INSERT INTO dnslog_files (server, path, size, sha256, shipped_at) VALUES (?, ?, ?, ?, ?)',
        [meta.server, meta.path, meta.size, meta.sha256, utcNowText()],
      );
      const fileId = ins.insertId;
      this.pendingInfile = Readable.from(tsvChunks(batches, meta.server, fileId, counter, spool), { objectMode: false });
      await conn.query(LOAD_ROWS_SQL);
      spool.end();
      await finished(spool);
      if (counter.rejects > 0) {
        this.pendingInfile = createReadStream(spoolPath);
        await conn.query(LOAD_REJECTS_SQL);
      }
      await upsertRollups(conn, meta.server, counter);
      await conn.execute('UPDATE dnslog_files SET rows_loaded = ?, rejects = ?, first_time = ?, last_time = ? WHERE id = ?', [
        counter.rows,
        counter.rejects,
        counter.firstTime,
        counter.lastTime,
        fileId,
      ]);
      await conn.commit();
      return counter.result(fileId);
    } catch (err) {
      this.pendingInfile = null;
      spool.destroy();
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      rmSync(spoolDir, { recursive: true, force: true });
    }
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
}

/** Empties the rollups and counts them again from dns_queries (inside the caller's transaction). */
async function recountRollups(conn: mysql.Connection): Promise<void> {
  for (const r of ROLLUPS) await conn.query(`DELETE FROM ${r.table}`);
  for (const stmt of rollupBackfill('mysql')) await conn.query(stmt);
}

/** Rollup rows per multi-row INSERT. */
const ROLLUP_BATCH = 1000;

/** Adds one file's counts to the rollups (multi-row upserts, values escaped by the driver). */
async function upsertRollups(conn: mysql.Connection, server: string, counter: LoadCounter): Promise<void> {
  for (const { table, column } of ROLLUPS) {
    const rows = counter.rollup.rows(column);
    for (let i = 0; i < rows.length; i += ROLLUP_BATCH) {
      const values = rows.slice(i, i + ROLLUP_BATCH).map(([bucket, key, n]) => [bucket, server, key, n]);
      await conn.query(
        `INSERT INTO ${table} (bucket, server, ${column}, queries) VALUES ? ON DUPLICATE KEY UPDATE queries = queries + VALUES(queries)`,
        [values],
      );
    }
  }
}

/**
 * The rows of one file as TSV chunks for LOAD DATA; rejects go to `spool` as TSV of
 * (file_id, line_no, reason, line) with the line's original bytes.
 */
async function* tsvChunks(
  batches: AsyncIterable<readonly ParsedLine[]>,
  server: string,
  fileId: number,
  counter: LoadCounter,
  spool: NodeJS.WritableStream,
): AsyncGenerator<Buffer> {
  let buf = '';
  for await (const batch of batches) {
    let rejects = '';
    for (const item of batch) {
      if (item.kind === 'row') {
        buf += tsvLine(rowValues(item.row, server, fileId, item.lineNo));
        counter.row(item.row);
      } else {
        counter.reject(item.reason);
        rejects += tsvLine([fileId, item.lineNo, item.reason, item.line]);
      }
    }
    if (rejects !== '' && !spool.write(Buffer.from(rejects, 'latin1'))) await new Promise((r) => spool.once('drain', r));
    if (buf.length >= CHUNK_BYTES) {
      yield Buffer.from(buf, 'utf8');
      buf = '';
    }
  }
  if (buf.length > 0) yield Buffer.from(buf, 'utf8');
}
