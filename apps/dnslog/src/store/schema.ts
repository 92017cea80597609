/**
 * The dnslog schema for both stores. `dns_queries` holds one row per query; `dnslog_files` is the
 * ledger of shipped files, written in the same transaction as their rows; `dnslog_rejects` keeps
 * every line that did not parse, verbatim, with its reason and its true length (an over-long line
 * keeps only its start); `dnslog_meta` records the schema version.
 */

import { msText } from '../time/zone.js';
import { ROLLUPS, rollupBucketSql } from './rollup.js';

/**
 * 1: rows, ledger, rejects. 2: rollup tables (rollup.ts), back-filled from the rows on migration.
 * 3: `dnslog_rejects.line_bytes`, a rejected line's true length (NULL for rejects stored before).
 * 4: `dnslog_files.done_lines` (bounded transactions). 5: times are UTC (`qtime`, rollup buckets,
 * the ledger's first/last time), each file's zone in `dnslog_files.tz`; before, they were the name
 * servers' wall clock (migrated by `db init`, migrate-utc.ts).
 */
export const SCHEMA_VERSION = 5;

/** First partition boundary: rows older than this land in the first partition, never fail a load. */
export const MYSQL_FIRST_PARTITION = 'p_start';
export const MYSQL_CATCHALL_PARTITION = 'p_future';

export function sqliteSchema(): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS dnslog_meta (
       key TEXT PRIMARY KEY,
       value TEXT NOT NULL
     )`,
    `CREATE TABLE IF NOT EXISTS dnslog_files (
       id INTEGER PRIMARY KEY,
       server TEXT NOT NULL,
       path TEXT NOT NULL,
       size INTEGER NOT NULL,
       sha256 TEXT NOT NULL,
       rows_loaded INTEGER NOT NULL DEFAULT 0,
       rejects INTEGER NOT NULL DEFAULT 0,
       first_time TEXT,
       last_time TEXT,
       shipped_at TEXT NOT NULL,
       done_lines INTEGER,
       tz TEXT,
       UNIQUE (server, sha256)
     )`,
    `CREATE TABLE IF NOT EXISTS dns_queries (
       qtime TEXT NOT NULL,
       server TEXT NOT NULL,
       client_ip TEXT NOT NULL,
       client_port INTEGER,
       view TEXT,
       qname TEXT NOT NULL COLLATE NOCASE,
       qname_rev TEXT NOT NULL COLLATE NOCASE,
       qclass TEXT NOT NULL,
       qtype TEXT NOT NULL,
       flags TEXT NOT NULL,
       rd INTEGER NOT NULL,
       edns INTEGER,
       tcp INTEGER NOT NULL,
       do_bit INTEGER NOT NULL,
       cd INTEGER NOT NULL,
       is_signed INTEGER NOT NULL,
       cookie TEXT,
       dest_ip TEXT,
       dest_port INTEGER,
       ecs TEXT,
       signer TEXT,
       file_id INTEGER NOT NULL,
       line_no INTEGER NOT NULL
     )`,
    'CREATE INDEX IF NOT EXISTS dns_queries_time ON dns_queries (qtime)',
    'CREATE INDEX IF NOT EXISTS dns_queries_server_time ON dns_queries (server, qtime)',
    'CREATE INDEX IF NOT EXISTS dns_queries_client_time ON dns_queries (client_ip, qtime)',
    'CREATE INDEX IF NOT EXISTS dns_queries_qname_rev ON dns_queries (qname_rev)',
    `CREATE TABLE IF NOT EXISTS dnslog_rejects (
       file_id INTEGER NOT NULL,
       line_no INTEGER NOT NULL,
       reason TEXT NOT NULL,
       line BLOB NOT NULL,
       line_bytes INTEGER,
       PRIMARY KEY (file_id, line_no)
     )`,
    ...ROLLUPS.map(
      (r) => `CREATE TABLE IF NOT EXISTS ${r.table} (
       bucket TEXT NOT NULL,
       server TEXT NOT NULL,
       ${r.column} ${r.sqliteType},
       queries INTEGER NOT NULL,
       PRIMARY KEY (bucket, server, ${r.column})
     ) WITHOUT ROWID`,
    ),
  ];
}

/** Fills the rollups from the rows already stored (migration to version 2); run after emptying them. */
export function rollupBackfill(dialect: 'sqlite' | 'mysql'): string[] {
  return ROLLUPS.map(
    (r) =>
      `INSERT INTO ${r.table} (bucket, server, ${r.column}, queries) SELECT ${rollupBucketSql(dialect, r.unit)}, server, MIN(${r.column}), COUNT(*) ` +
      `FROM dns_queries GROUP BY 1, 2, ${r.column}`,
  );
}

/**
 * Migration to version 3: the column for a rejected line's true length, added to a table made before
 * it. Run only when the column is missing (a MySQL migration killed after its DDL runs again).
 */
export function rejectLineBytesColumn(dialect: 'sqlite' | 'mysql'): string {
  return `ALTER TABLE dnslog_rejects ADD COLUMN line_bytes ${dialect === 'sqlite' ? 'INTEGER' : 'BIGINT UNSIGNED NULL'}`;
}

/**
 * Version 4: `dnslog_files.done_lines`, a file's progress while it is loaded in bounded
 * transactions — the last input line committed; NULL once the whole file is (every file before
 * version 4 was loaded whole).
 */
export function fileDoneLinesColumn(dialect: 'sqlite' | 'mysql'): string {
  return `ALTER TABLE dnslog_files ADD COLUMN done_lines ${dialect === 'sqlite' ? 'INTEGER' : 'BIGINT UNSIGNED NULL'}`;
}

/**
 * Version 5: `dnslog_files.tz`, the zone a file's lines were read in when they carried none (IANA
 * name or offset; for files shipped before, the zone `db init` migrated them from).
 */
export function fileZoneColumn(dialect: 'sqlite' | 'mysql'): string {
  return `ALTER TABLE dnslog_files ADD COLUMN tz ${dialect === 'sqlite' ? 'TEXT' : 'VARCHAR(64) CHARACTER SET ascii NULL'}`;
}

/** `p2026112509` for the partition that starts at 2026-11-25 09:00. */
export function partitionName(start: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `p${start.getUTCFullYear()}${p(start.getUTCMonth() + 1)}${p(start.getUTCDate())}${p(start.getUTCHours())}`;
}

/** `'2026-11-25 09:00:00'`: a boundary literal for RANGE COLUMNS. */
export function boundaryLiteral(d: Date): string {
  return msText(d.getTime()).slice(0, 19);
}

/**
 * MySQL/MariaDB DDL. The table is RANGE COLUMNS-partitioned on qtime from the start: one partition
 * for everything before `firstBound` and a catch-all, so that a row from the future never fails a
 * load; `db init` then splits the catch-all into hourly or daily partitions ahead of time, as
 * `dnslog partitions` does (partition-admin.ts maintainPartitions: one implementation). The rollup
 * tables are partitioned the same way on their bucket, so that retention drops them a partition at
 * a time too.
 * Times are UTC (schema version 5), and so are the partition bounds.
 */
export function mysqlSchema(firstBound: Date): string[] {
  const parts: string[] = [`PARTITION ${MYSQL_FIRST_PARTITION} VALUES LESS THAN ('${boundaryLiteral(firstBound)}')`];
  parts.push(`PARTITION ${MYSQL_CATCHALL_PARTITION} VALUES LESS THAN (MAXVALUE)`);
  return [
    `CREATE TABLE IF NOT EXISTS dnslog_meta (
       name VARCHAR(64) NOT NULL PRIMARY KEY,
       value VARCHAR(255) NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE IF NOT EXISTS dnslog_files (
       id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       server VARCHAR(255) NOT NULL,
       path VARCHAR(4096) NOT NULL,
       size BIGINT UNSIGNED NOT NULL,
       sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
       rows_loaded BIGINT UNSIGNED NOT NULL DEFAULT 0,
       rejects BIGINT UNSIGNED NOT NULL DEFAULT 0,
       first_time DATETIME(3) NULL,
       last_time DATETIME(3) NULL,
       shipped_at DATETIME(3) NOT NULL,
       done_lines BIGINT UNSIGNED NULL,
       tz VARCHAR(64) CHARACTER SET ascii NULL,
       UNIQUE KEY server_sha256 (server, sha256)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE IF NOT EXISTS dns_queries (
       qtime DATETIME(3) NOT NULL,
       server VARCHAR(255) NOT NULL,
       client_ip VARCHAR(64) CHARACTER SET ascii NOT NULL,
       client_port SMALLINT UNSIGNED NULL,
       view VARCHAR(255) NULL,
       qname VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
       qname_rev VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
       qclass VARCHAR(16) CHARACTER SET ascii NOT NULL,
       qtype VARCHAR(16) CHARACTER SET ascii NOT NULL,
       flags VARCHAR(32) CHARACTER SET ascii NOT NULL,
       rd TINYINT(1) NOT NULL,
       edns SMALLINT NULL,
       tcp TINYINT(1) NOT NULL,
       do_bit TINYINT(1) NOT NULL,
       cd TINYINT(1) NOT NULL,
       is_signed TINYINT(1) NOT NULL,
       cookie ENUM('valid','present') NULL,
       dest_ip VARCHAR(64) CHARACTER SET ascii NULL,
       dest_port SMALLINT UNSIGNED NULL,
       ecs VARCHAR(64) CHARACTER SET ascii NULL,
       signer VARCHAR(255) NULL,
       file_id INT UNSIGNED NOT NULL,
       line_no INT UNSIGNED NOT NULL,
       PRIMARY KEY (qtime, file_id, line_no),
       KEY server_time (server, qtime),
       KEY client_time (client_ip, qtime),
       KEY qname_rev (qname_rev(255))
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
     PARTITION BY RANGE COLUMNS (qtime) (${parts.join(', ')})`,
    `CREATE TABLE IF NOT EXISTS dnslog_rejects (
       file_id INT UNSIGNED NOT NULL,
       line_no INT UNSIGNED NOT NULL,
       reason VARCHAR(32) CHARACTER SET ascii NOT NULL,
       line MEDIUMBLOB NOT NULL,
       line_bytes BIGINT UNSIGNED NULL,
       PRIMARY KEY (file_id, line_no)
     ) ENGINE=InnoDB`,
    ...ROLLUPS.map(
      (r) => `CREATE TABLE IF NOT EXISTS ${r.table} (
       bucket DATETIME NOT NULL,
       server VARCHAR(255) NOT NULL,
       ${r.column} ${r.mysqlType},
       queries BIGINT UNSIGNED NOT NULL,
       PRIMARY KEY (bucket, server, ${r.column})
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
     PARTITION BY RANGE COLUMNS (bucket) (${parts.join(', ')})`,
    ),
  ];
}
