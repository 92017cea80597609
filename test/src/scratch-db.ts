/**
 * A MariaDB database of a test file's own on the real server, and a temp work dir: created in a
 * `beforeAll`, dropped and removed in an `afterAll`, both registered by `useScratchDatabase`. Call
 * it at the top level of the file, before the file's own hooks, so theirs run after it is ready.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll } from 'vitest';
import { services } from './services-env.js';

/** A new connection to the test MariaDB as its user, with the password from the services' file. */
export function connectMariadb(options: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  const { host, port, user, passwordFile } = services().mariadb;
  return mysql.createConnection({ host, port, user, password: readFileSync(passwordFile, 'utf8').trim(), ...options });
}

/** A dnslog `--db` URL for a database on the test MariaDB; the password comes from the option file. */
export function mariadbUrl(db: string): string {
  const { user, host, port, clientCnf } = services().mariadb;
  return `mysql://${user}@${host}:${port}/${db}?option-file=${clientCnf}`;
}

export interface ScratchOptions<Also extends readonly string[]> {
  /** More databases to create and drop with the first (their names get the same PID suffix). */
  also?: Also;
  /** mysql2's `dateStrings` for the connection: DATETIME values come back as MariaDB's text. */
  dateStrings?: boolean;
}

export interface ScratchDatabase<Also extends readonly string[] = []> {
  /** The database's name: `<name>_<pid>`; the connection has `USE`d it. */
  readonly db: string;
  /** The names of the `also` databases, in the same order. */
  readonly also: { readonly [K in keyof Also]: string };
  /** The dnslog `--db` URL of `db`. */
  readonly url: string;
  readonly conn: mysql.Connection;
  readonly work: string;
  /** The first column of the first row of a query, as a number. */
  count: (sql: string, params?: unknown[]) => Promise<number>;
}

export function useScratchDatabase<const Also extends readonly string[] = []>(
  name: string,
  workPrefix: string,
  options: ScratchOptions<Also> = {},
): ScratchDatabase<Also> {
  const db = `${name}_${process.pid}`;
  const also = (options.also ?? []).map((n) => `${n}_${process.pid}`) as { readonly [K in keyof Also]: string };
  let conn: mysql.Connection | undefined;
  let work: string | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), workPrefix));
    conn = await connectMariadb(options.dateStrings ? { dateStrings: true } : {});
    for (const d of [db, ...also]) await conn.query(`CREATE DATABASE ${d}`);
    await conn.query(`USE ${db}`);
  });

  afterAll(async () => {
    for (const d of [db, ...also]) await conn?.query(`DROP DATABASE IF EXISTS ${d}`);
    await conn?.end();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`scratch database ${db}: ${what} used before its beforeAll ran`);
    return value;
  };
  const scratch: ScratchDatabase<Also> = {
    db,
    also,
    url: mariadbUrl(db),
    get conn() {
      return ready(conn, 'the connection');
    },
    get work() {
      return ready(work, 'the work dir');
    },
    async count(sql, params = []) {
      const [rows] = await scratch.conn.query<mysql.RowDataPacket[]>(sql, params);
      return Number(Object.values(rows[0] ?? {})[0]);
    },
  };
  return scratch;
}
