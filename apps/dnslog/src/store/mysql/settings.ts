/**
 * What a MySQL store connects with and how it loads: plain data, so that a worker thread can make
 * a store of its own from them (ship's lane threads, ship/lane-threads.ts).
 */

export interface MysqlConnectSettings {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  socketPath: string | undefined;
  /** mysql2's TLS options (`?ssl=`), or undefined for none. */
  ssl?: { ca?: string; rejectUnauthorized: boolean };
}

export interface MysqlStoreOptions {
  /** Distinct rollup keys held before they are added to the tables (rollup.ts ROLLUP_FLUSH_KEYS). */
  rollupFlushKeys?: number;
  /** Lines per transaction (store.ts LOAD_CHUNK_LINES). */
  chunkLines?: number;
}
