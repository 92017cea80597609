import type mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { dropPartitionsConcurrently, partitionsNewest } from './partition-admin.js';
import type { PartitionInfo } from './partitions.js';
import { ROLLUPS } from '../rollup.js';

/** A connection that answers the partition listing, records every statement and fails the ones `fail` matches. */
function fakeConnection(log: string[], fail: RegExp | null, ended: string[], name: string): mysql.Connection {
  const conn = {
    query: (sql: string) => {
      if (sql.includes('information_schema.PARTITIONS')) {
        return Promise.resolve([
          [
            { name: 'p2026112000', method: 'RANGE COLUMNS', description: "'2026-11-20 01:00:00'", rows: 5, bytes: 16384 },
            { name: 'p_future', method: 'RANGE COLUMNS', description: 'MAXVALUE', rows: 0, bytes: 16384 },
          ],
        ]);
      }
      log.push(`${name}: ${sql}`);
      if (fail?.test(sql)) return Promise.reject(new Error('Lock wait timeout exceeded; try restarting transaction'));
      return Promise.resolve([{ affectedRows: 0 }]);
    },
    end: () => {
      ended.push(name);
      return Promise.resolve();
    },
  };
  return conn as unknown as mysql.Connection;
}

const part: PartitionInfo = { name: 'p2026112000', lessThan: '2026-11-20 01:00:00', rows: 5, bytes: 16384 };

describe('dropPartitionsConcurrently', () => {
  it('drops the rows and every rollup on their own connections, then closes the extra ones', async () => {
    const log: string[] = [];
    const ended: string[] = [];
    let n = 0;
    const connect = () => Promise.resolve(fakeConnection(log, null, ended, `extra${++n}`));
    await dropPartitionsConcurrently(fakeConnection(log, null, ended, 'main'), connect, 'db', [part], '2026-11-20 01:00:00');
    expect(log.filter((l) => l.includes('DROP PARTITION')).sort()).toEqual(
      [
        'main: ALTER TABLE dns_queries DROP PARTITION p2026112000',
        ...ROLLUPS.map((r, i) => `extra${i + 1}: ALTER TABLE ${r.table} DROP PARTITION p2026112000`),
      ].sort(),
    );
    expect(ended.sort()).toEqual(ROLLUPS.map((_, i) => `extra${i + 1}`));
  });

  it('a failed drop is one line that says to run prune again, and every extra connection is still closed', async () => {
    const log: string[] = [];
    const ended: string[] = [];
    let n = 0;
    const connect = () => Promise.resolve(fakeConnection(log, /dns_rollup_names/, ended, `extra${++n}`));
    await expect(
      dropPartitionsConcurrently(fakeConnection(log, null, ended, 'main'), connect, 'mysql://u@h:3306/db', [part], '2026-11-20 01:00:00'),
    ).rejects.toThrow(
      'mysql://u@h:3306/db: prune stopped part-way (Lock wait timeout exceeded; try restarting transaction); run it again to finish',
    );
    expect(ended).toHaveLength(ROLLUPS.length);
    // The rows' drop was not held back by the failing table.
    expect(log).toContain('main: ALTER TABLE dns_queries DROP PARTITION p2026112000');
  });

  it('without a boundary it touches no rollup and opens no connection', async () => {
    const log: string[] = [];
    const ended: string[] = [];
    const connect = () => Promise.reject(new Error('must not connect'));
    await dropPartitionsConcurrently(fakeConnection(log, null, ended, 'main'), connect, 'db', [], null);
    expect(log).toEqual([]);
    expect(ended).toEqual([]);
  });
});

describe('partitionsNewest', () => {
  /** A connection that answers a UNION of per-partition MAX(qtime) from `newest`, recording each statement. */
  function unionConnection(newest: (string | null)[], log: string[]): mysql.Connection {
    const conn = {
      query: (sql: string) => {
        log.push(sql);
        const n = sql.split(' UNION ALL ').length;
        return Promise.resolve([Array.from({ length: n }, (_, i) => ({ i: String(i), newest: newest[i] ?? null }))]);
      },
    };
    return conn as unknown as mysql.Connection;
  }

  it('asks for every partition in one statement and gives each its own answer', async () => {
    const log: string[] = [];
    const got = await partitionsNewest(unionConnection(['2026-11-20 00:59:59.900', null, '2026-11-20 02:30:00.000'], log), [
      'p2026112000',
      'p2026112001',
      'p2026112002',
    ]);
    expect(log).toHaveLength(1);
    expect(log[0]).toContain('PARTITION (p2026112001)');
    expect([...got]).toEqual([
      ['p2026112000', '2026-11-20 00:59:59.900'],
      ['p2026112001', null],
      ['p2026112002', '2026-11-20 02:30:00.000'],
    ]);
  });

  it('sends nothing for no partitions, and refuses a name that is not a partition name', async () => {
    const log: string[] = [];
    expect((await partitionsNewest(unionConnection([], log), [])).size).toBe(0);
    await expect(partitionsNewest(unionConnection([], log), ['p1) UNION SELECT 1 --'])).rejects.toThrow(/bad partition name/);
    expect(log).toHaveLength(0);
  });
});
