/**
 * The shard map of a sharded MySQL store (pure): which backend holds a file. A file's identity —
 * its server and the SHA-256 of its content — falls in one of a fixed number of buckets, and each
 * bucket belongs to one backend; the file's rows, its ledger entry, its rejects and its rollup
 * counts all live there, so loading it stays one local transaction and a re-run finds it where it
 * was put. The front serves reads through Spider tables, one partition per backend.
 */
import { createHash } from 'node:crypto';
import { ROLLUPS } from '../rollup.js';

/** Buckets of the map: fixed, so that a file's bucket never changes; backends own whole buckets. */
export const SHARD_BUCKETS = 64;
/** At most this many backends (the `shard` column is a TINYINT UNSIGNED; 64 buckets to share). */
export const MAX_SHARDS = 16;

/** The tables that live on every backend and that the front reads through Spider. */
export const SHARDED_TABLES: readonly string[] = ['dns_queries', 'dnslog_files', 'dnslog_rejects', ...ROLLUPS.map((r) => r.table)];

/** The bucket of a file: the first 32 bits of SHA-256(server NUL sha256), modulo the buckets. */
export function bucketOf(server: string, sha256: string): number {
  return createHash('sha256').update(server).update('\0').update(sha256).digest().readUInt32BE(0) % SHARD_BUCKETS;
}

/** The first map of `n` backends: contiguous runs of buckets, as even as 64 / n allows. */
export function initialBuckets(n: number): number[] {
  return Array.from({ length: SHARD_BUCKETS }, (_, b) => Math.floor((b * n) / SHARD_BUCKETS));
}

/** The name of backend `k`'s server definition on the front (CREATE SERVER): per front database. */
export function spiderServerName(frontDatabase: string, k: number): string {
  return `dnslog_${createHash('sha256').update(frontDatabase).digest('hex').slice(0, 12)}_s${k}`;
}

/**
 * The front's Spider table for `table`, from the backend's `SHOW CREATE TABLE` text: the same
 * columns and keys (the primary and unique keys with `shard`, which partitions the front), the
 * Spider engine, and one LIST partition per backend pointing at its server definition.
 */
export function spiderTableDdl(showCreate: string, table: string, servers: readonly string[]): string {
  const lines = showCreate.split('\n');
  const end = lines.findIndex((l) => l.startsWith(')'));
  if (!/^CREATE TABLE `[^`]+` \($/.test(lines[0] ?? '') || end < 0) throw new Error(`unexpected SHOW CREATE TABLE for ${table}`);
  const body = lines.slice(1, end).map((l) => {
    const key = /^(\s*(?:PRIMARY KEY|UNIQUE KEY `[^`]+`) \()(.*)(\),?)$/.exec(l);
    return key && !key[2]?.split(',').includes('`shard`') ? `${key[1]}${key[2]},\`shard\`${key[3]}` : l;
  });
  if (!body.some((l) => /^\s*`shard` /.test(l))) throw new Error(`${table} has no shard column`);
  // REMOTE_SERVER / REMOTE_TABLE: MariaDB 10.11 and 11.8 both take them (11.8 warns that the older
  // `COMMENT 'srv "…"'` parameters are deprecated)
  const parts = servers.map((s, k) => `PARTITION s${k} VALUES IN (${k}) REMOTE_SERVER='${s}' REMOTE_TABLE='${table}'`);
  return `CREATE TABLE \`${table}\` (\n${body.join('\n')}\n) ENGINE=SPIDER DEFAULT CHARSET=utf8mb4\nPARTITION BY LIST (shard) (${parts.join(', ')})`;
}
