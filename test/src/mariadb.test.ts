import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from './services-env.js';

const db = services().mariadb;
const suffix = `${process.pid}_${Date.now()}`;
const ROWS_TABLE = `it_rows_${suffix}`;
const PARTITIONED_TABLE = `it_part_${suffix}`;

/** One LOAD DATA field with the default escaping (ESCAPED BY '\\'); null becomes \N. */
function loadDataField(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0');
}

let conn: Connection;
/** What the next LOAD DATA LOCAL INFILE reads; the file name in the statement is ignored. */
let nextInfile: Readable | null = null;

beforeAll(async () => {
  const password = (await readFile(db.passwordFile, 'utf8')).trim();
  conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password,
    database: db.database,
    infileStreamFactory: (path: string) => {
      const stream = nextInfile;
      nextInfile = null;
      if (stream === null) throw new Error(`unexpected LOAD DATA LOCAL INFILE '${path}'`);
      return stream;
    },
  });
});

afterAll(async () => {
  await conn?.query(`DROP TABLE IF EXISTS \`${ROWS_TABLE}\`, \`${PARTITIONED_TABLE}\``);
  await conn?.end();
});

describe('MariaDB', () => {
  it('is MariaDB, reached with the generated credentials on the recorded port', async () => {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT VERSION() AS version, CURRENT_USER() AS user, @@port AS port, @@local_infile AS localInfile',
    );
    expect(rows[0]?.version).toMatch(/MariaDB/);
    expect(rows[0]?.user).toBe(`${db.user}@127.0.0.1`);
    expect(rows[0]?.port).toBe(db.port);
    expect(rows[0]?.localInfile).toBe(1);
  });

  it('round-trips rows inserted with placeholders', async () => {
    await conn.query(
      `CREATE TABLE \`${ROWS_TABLE}\` (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NULL, n INT NOT NULL) CHARACTER SET utf8mb4`,
    );
    const values: [string, number][] = [
      ["O'Brien; DROP TABLE x; --", 1],
      ['ünïcödé ✓', 2],
    ];
    for (const [name, n] of values) {
      const [result] = await conn.execute<ResultSetHeader>(`INSERT INTO \`${ROWS_TABLE}\` (name, n) VALUES (?, ?)`, [name, n]);
      expect(result.affectedRows).toBe(1);
    }
    const [rows] = await conn.execute<RowDataPacket[]>(`SELECT name, n FROM \`${ROWS_TABLE}\` WHERE n IN (?, ?) ORDER BY n`, [1, 2]);
    expect(rows.map((r): unknown[] => [r.name, r.n])).toEqual(values);
  });

  it('LOAD DATA LOCAL INFILE reads an in-memory stream with tabs, quotes and backslashes intact', async () => {
    const names = [
      'tab\there',
      'it\'s "quoted"',
      'back\\slash',
      'literal \\N is not NULL',
      'new\nline and \r return',
      '-leading dash',
      null,
    ];
    const tsv = names.map((name, i) => `${loadDataField(name)}\t${100 + i}\n`).join('');
    nextInfile = Readable.from([Buffer.from(tsv, 'utf8')]);
    const [result] = await conn.query<ResultSetHeader>(
      `LOAD DATA LOCAL INFILE 'in-memory.tsv' INTO TABLE \`${ROWS_TABLE}\` CHARACTER SET utf8mb4
       FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (name, n)`,
    );
    expect(nextInfile).toBeNull(); // the factory handed the stream over
    expect(result.affectedRows).toBe(names.length);
    expect(result.warningStatus).toBe(0);
    const [rows] = await conn.execute<RowDataPacket[]>(`SELECT name FROM \`${ROWS_TABLE}\` WHERE n >= 100 ORDER BY n`);
    expect(rows.map((r) => r.name as string | null)).toEqual(names);
  });

  it('creates a RANGE-partitioned table and routes rows to their partitions', async () => {
    await conn.query(
      `CREATE TABLE \`${PARTITIONED_TABLE}\` (id INT NOT NULL, dt DATETIME NOT NULL, PRIMARY KEY (id, dt))
       PARTITION BY RANGE (TO_SECONDS(dt)) (
         PARTITION p2025 VALUES LESS THAN (TO_SECONDS('2026-01-01')),
         PARTITION p2026 VALUES LESS THAN (TO_SECONDS('2027-01-01')),
         PARTITION pmax VALUES LESS THAN MAXVALUE)`,
    );
    await conn.query(`INSERT INTO \`${PARTITIONED_TABLE}\` (id, dt) VALUES ?`, [
      [
        [1, '2025-06-01 00:00:00'],
        [2, '2026-03-01 12:00:00'],
        [3, '2026-12-31 23:59:59'],
        [4, '2031-01-01 00:00:00'],
      ],
    ]);
    const [parts] = await conn.execute<RowDataPacket[]>(
      `SELECT PARTITION_NAME AS name, PARTITION_METHOD AS method FROM information_schema.PARTITIONS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION`,
      [db.database, PARTITIONED_TABLE],
    );
    expect(parts.map((p) => p.name as string)).toEqual(['p2025', 'p2026', 'pmax']);
    expect(parts[0]?.method).toBe('RANGE');
    const [counts] = await conn.query<RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM \`${PARTITIONED_TABLE}\` PARTITION (p2025)) AS p2025,
              (SELECT COUNT(*) FROM \`${PARTITIONED_TABLE}\` PARTITION (p2026)) AS p2026,
              (SELECT COUNT(*) FROM \`${PARTITIONED_TABLE}\` PARTITION (pmax)) AS pmax`,
    );
    expect(counts[0]).toEqual({ p2025: 1, p2026: 2, pmax: 1 });
  });
});
