import type mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { dropPartitionsConcurrently } from './partition-admin.js';
import type { PartitionInfo } from './partitions.js';
import { ROLLUPS } from './rollup.js';

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
    await expect(dropPartitionsConcurrently(fakeConnection(log, null, ended, 'main'), connect, 'mysql://u@h:3306/db', [part], '2026-11-20 01:00:00')).rejects.toThrow(
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
