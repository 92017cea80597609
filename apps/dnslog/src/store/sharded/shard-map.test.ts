import { describe, expect, it } from 'vitest';
import { SHARD_BUCKETS, bucketOf, initialBuckets, spiderServerName, spiderTableDdl } from './shard-map.js';

const SHA = (i: number) => i.toString(16).padStart(64, '0');

describe('the shard map', () => {
  it('puts a file in a bucket by its server and content, the same on every run and host', () => {
    expect(bucketOf('ns1', SHA(1))).toBe(bucketOf('ns1', SHA(1)));
    // fixed values: the map is stored, so the function must never change
    expect([bucketOf('ns1', SHA(1)), bucketOf('ns2', SHA(1)), bucketOf('ns1', SHA(2))]).toEqual([25, 42, 7]);
    // the server is part of the identity: the same content from two servers is two files
    const differ = Array.from({ length: 50 }, (_, i) => bucketOf('ns1', SHA(i)) !== bucketOf('ns2', SHA(i))).filter(Boolean).length;
    expect(differ).toBeGreaterThan(40);
  });

  it('spreads files over the buckets evenly enough', () => {
    const counts = new Array<number>(SHARD_BUCKETS).fill(0);
    for (let i = 0; i < 64_000; i++) counts[bucketOf(`ns${i % 7}`, SHA(i))]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });

  it('gives each of n backends a contiguous, nearly equal run of buckets', () => {
    expect(initialBuckets(1)).toEqual(new Array(64).fill(0));
    const three = initialBuckets(3);
    expect([0, 1, 2].map((k) => three.filter((s) => s === k).length)).toEqual([22, 21, 21]);
    expect(three).toEqual([...three].sort((a, b) => a - b));
    expect(new Set(initialBuckets(16)).size).toBe(16);
  });

  it('names the server definitions per front database, within MySQL limits', () => {
    expect(spiderServerName('dnslog', 0)).toMatch(/^dnslog_[0-9a-f]{12}_s0$/);
    expect(spiderServerName('dnslog', 2)).not.toBe(spiderServerName('dnslog_b', 2));
    expect(spiderServerName('x'.repeat(64), 15).length).toBeLessThanOrEqual(64);
  });
});

describe('spiderTableDdl', () => {
  const shown = [
    'CREATE TABLE `dnslog_files` (',
    '  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,',
    '  `server` varchar(255) NOT NULL,',
    '  `sha256` char(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,',
    '  `shard` tinyint(3) unsigned NOT NULL DEFAULT 1,',
    '  PRIMARY KEY (`id`),',
    '  UNIQUE KEY `server_sha256` (`server`,`sha256`),',
    '  KEY `by_server` (`server`)',
    ') ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci',
    ' PARTITION BY RANGE  COLUMNS(`qtime`)',
    "(PARTITION `p0` VALUES LESS THAN ('2026-11-25 00:00:00') ENGINE = InnoDB)",
  ].join('\n');

  it("keeps the backend's columns and keys, adds shard to the unique ones, and partitions by backend", () => {
    expect(spiderTableDdl(shown, 'dnslog_files', ['srv_a', 'srv_b'])).toBe(
      [
        'CREATE TABLE `dnslog_files` (',
        '  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,',
        '  `server` varchar(255) NOT NULL,',
        '  `sha256` char(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,',
        '  `shard` tinyint(3) unsigned NOT NULL DEFAULT 1,',
        '  PRIMARY KEY (`id`,`shard`),',
        '  UNIQUE KEY `server_sha256` (`server`,`sha256`,`shard`),',
        '  KEY `by_server` (`server`)',
        ') ENGINE=SPIDER DEFAULT CHARSET=utf8mb4',
        "PARTITION BY LIST (shard) (PARTITION s0 VALUES IN (0) REMOTE_SERVER='srv_a' REMOTE_TABLE='dnslog_files', PARTITION s1 VALUES IN (1) REMOTE_SERVER='srv_b' REMOTE_TABLE='dnslog_files')",
      ].join('\n'),
    );
  });

  it('refuses a table without the shard column, or text that is not a CREATE TABLE', () => {
    expect(() => spiderTableDdl(shown.replace(/ {2}`shard`.*\n/, ''), 'dnslog_files', ['a'])).toThrow('dnslog_files has no shard column');
    expect(() => spiderTableDdl('CREATE VIEW v AS SELECT 1', 'v', ['a'])).toThrow('unexpected SHOW CREATE TABLE for v');
  });
});

describe('onlyPartitions', () => {
  it('reads every sharded table of a report query from the live shards only, and nothing else', async () => {
    const { onlyPartitions } = await import('./db-sharded.js');
    const sql =
      'SELECT value, SUM(n) AS queries FROM (SELECT qname AS value, SUM(queries) AS n FROM dns_rollup_names WHERE bucket >= ? GROUP BY qname ' +
      'UNION ALL SELECT qname AS value, COUNT(*) AS n FROM dns_queries WHERE qtime >= ? GROUP BY qname) x GROUP BY value';
    expect(onlyPartitions(sql, [0, 2])).toBe(
      'SELECT value, SUM(n) AS queries FROM (SELECT qname AS value, SUM(queries) AS n FROM dns_rollup_names PARTITION (s0, s2) WHERE bucket >= ? GROUP BY qname ' +
        'UNION ALL SELECT qname AS value, COUNT(*) AS n FROM dns_queries PARTITION (s0, s2) WHERE qtime >= ? GROUP BY qname) x GROUP BY value',
    );
    expect(onlyPartitions('SELECT server FROM dnslog_files GROUP BY server', [1])).toBe(
      'SELECT server FROM dnslog_files PARTITION (s1) GROUP BY server',
    );
    // a name that only starts like a table, and a table already limited, are left alone
    expect(onlyPartitions('SELECT 1 FROM dns_queries_old, dns_queries PARTITION (p1)', [0])).toBe(
      'SELECT 1 FROM dns_queries_old, dns_queries PARTITION (p1)',
    );
  });
});
