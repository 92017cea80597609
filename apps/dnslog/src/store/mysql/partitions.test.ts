import { describe, expect, it } from 'vitest';
import {
  checkLayout,
  parseDescription,
  planPartitions,
  planPrune,
  planRollupSync,
  pruneStatements,
  type PartitionInfo,
} from './partitions.js';

const part = (name: string, lessThan: string | null, rows = 0): PartitionInfo => ({ name, lessThan, rows, bytes: 16384 });
const layout = [part('p_start', '2026-11-25 00:00:00'), part('p2026112500', '2026-11-25 10:00:00'), part('p_future', null)];
const now = new Date(Date.UTC(2026, 10, 25, 9, 41));

describe('planPartitions', () => {
  it('splits the catch-all into hourly partitions named by their start, two ahead at least', () => {
    const plan = planPartitions({ parts: layout, now, granularity: 'hour', aheadMs: 0 });
    expect(plan.add.map((p) => p.name)).toEqual(['p2026112510', 'p2026112511']);
    expect(plan.statements).toEqual([
      "ALTER TABLE dns_queries REORGANIZE PARTITION p_future INTO (PARTITION p2026112510 VALUES LESS THAN ('2026-11-25 11:00:00'), " +
        "PARTITION p2026112511 VALUES LESS THAN ('2026-11-25 12:00:00'), PARTITION p_future VALUES LESS THAN (MAXVALUE))",
    ]);
    expect(plan.coveredUntil).toBe('2026-11-25 12:00:00');
  });

  it('covers --ahead, and is idempotent once it has', () => {
    const plan = planPartitions({ parts: layout, now, granularity: 'hour', aheadMs: 24 * 3_600_000 });
    expect(plan.add).toHaveLength(24);
    expect(plan.add.at(-1)).toEqual({ name: 'p2026112609', start: '2026-11-26 09:00:00', lessThan: '2026-11-26 10:00:00' });
    const after = [...layout.slice(0, -1), ...plan.add.map((p) => part(p.name, p.lessThan)), part('p_future', null)];
    expect(planPartitions({ parts: after, now, granularity: 'hour', aheadMs: 24 * 3_600_000 }).statements).toEqual([]);
  });

  it('makes daily partitions aligned to midnight after an unaligned bound', () => {
    const plan = planPartitions({ parts: layout, now, granularity: 'day', aheadMs: 0 });
    expect(plan.add.map((p) => [p.name, p.lessThan])).toEqual([
      ['p2026112510', '2026-11-26 00:00:00'],
      ['p2026112600', '2026-11-27 00:00:00'],
      ['p2026112700', '2026-11-28 00:00:00'],
    ]);
  });

  it('reshapes empty daily partitions after the current hour into hourly ones, in one REORGANIZE with the catch-all; not when one holds rows', () => {
    const daily = [
      part('p_start', '2026-11-24 00:00:00'),
      part('p2026112400', '2026-11-25 00:00:00'),
      part('p2026112500', '2026-11-26 00:00:00'),
      part('p2026112600', '2026-11-27 00:00:00'),
      part('p_future', null),
    ];
    const all = new Set(['p2026112600', 'p_future']);
    const plan = planPartitions({ parts: daily, now, granularity: 'hour', aheadMs: 0, empty: all });
    // Today's daily partition holds the current hour: it stays; tomorrow's becomes 24 hours.
    expect(plan.reshaped).toEqual(['p2026112600']);
    expect(plan.add.map((p) => p.name)).toEqual(Array.from({ length: 24 }, (_, h) => `p20261126${String(h).padStart(2, '0')}`));
    expect(plan.statements[0]).toMatch(
      /^ALTER TABLE dns_queries REORGANIZE PARTITION p2026112600, p_future INTO \(PARTITION p2026112600 VALUES LESS THAN \('2026-11-26 01:00:00'\), /,
    );
    expect(plan.total).toBe(daily.length - 1 + 24);
    const blocked = planPartitions({ parts: daily, now, granularity: 'hour', aheadMs: 0, empty: new Set(['p_future']) });
    expect([blocked.reshaped, blocked.reshapeBlocked, blocked.statements]).toEqual([[], ['p2026112600'], []]);
    // And back: empty hourly partitions from tomorrow on merge into days.
    const hourly = [part('p_start', '2026-11-26 00:00:00'), ...plan.add.map((p) => part(p.name, p.lessThan)), part('p_future', null)];
    const merged = planPartitions({
      parts: hourly,
      now,
      granularity: 'day',
      aheadMs: 0,
      empty: new Set([...plan.add.map((p) => p.name), 'p_future']),
    });
    expect(merged.reshaped).toHaveLength(24);
    expect(merged.add.map((p) => [p.name, p.lessThan])).toEqual([
      ['p2026112600', '2026-11-27 00:00:00'],
      ['p2026112700', '2026-11-28 00:00:00'],
    ]);
  });

  it("refuses to go over MySQL's partition limit", () => {
    expect(() => planPartitions({ parts: layout, now, granularity: 'hour', aheadMs: 400 * 86_400_000 })).toThrow(
      'dns_queries would have 9603 partitions, over the limit of 8192: prune old data first (dnslog prune --keep …) or use --granularity day',
    );
  });

  it('insists on the catch-all and on names it can put in DDL', () => {
    expect(() => checkLayout(layout.slice(0, 2), 'db')).toThrow('the last partition must be the catch-all p_future');
    expect(() => checkLayout([part('x; DROP TABLE t', '2026-01-01 00:00:00'), part('p_future', null)], 'db')).toThrow(
      "unexpected partition name 'x; DROP TABLE t'",
    );
  });

  it('reads information_schema descriptions', () => {
    expect(parseDescription("'2026-11-26 00:00:00'")).toBe('2026-11-26 00:00:00');
    expect(parseDescription('MAXVALUE')).toBeNull();
  });
});

describe('planPrune', () => {
  const parts = [
    part('p_start', '2026-11-20 00:00:00'),
    part('p2026112000', '2026-11-21 00:00:00'),
    part('p2026112100', '2026-11-22 00:00:00'),
    part('p_future', null),
  ];

  it('drops only partitions wholly older than the cutoff; one that straddles it is kept', () => {
    const plan = planPrune(parts, '2026-11-21 12:00:00.000');
    expect(plan.drop.map((p) => p.name)).toEqual(['p_start', 'p2026112000']);
    expect(plan.keep.map((p) => p.name)).toEqual(['p2026112100', 'p_future']);
  });

  it('keeps a partition whose bound is one millisecond past the cutoff', () => {
    expect(planPrune(parts, '2026-11-20 23:59:59.999').drop.map((p) => p.name)).toEqual(['p_start']);
    expect(planPrune(parts, '2026-11-21 00:00:00.000').drop.map((p) => p.name)).toEqual(['p_start', 'p2026112000']);
  });

  it('never drops the catch-all, and empties the first partition instead of dropping it', () => {
    expect(planPrune(parts, '2099-01-01 00:00:00').keep.map((p) => p.name)).toEqual(['p_future']);
    expect(pruneStatements(planPrune(parts, '2026-11-22 00:00:00').drop)).toEqual([
      'ALTER TABLE dns_queries TRUNCATE PARTITION p_start',
      'ALTER TABLE dns_queries DROP PARTITION p2026112000, p2026112100',
    ]);
    expect(pruneStatements([part('p2026112000', '2026-11-21 00:00:00')])).toEqual(['ALTER TABLE dns_queries DROP PARTITION p2026112000']);
  });
});

describe('planRollupSync', () => {
  const queries = [
    part('p_start', '2026-11-24 00:00:00'),
    part('p2026112400', '2026-11-25 00:00:00'),
    part('p2026112500', '2026-11-25 01:00:00'),
    part('p2026112501', '2026-11-25 02:00:00'),
    part('p_future', null),
  ];

  it("gives a rollup table the rows' partitions beyond its own newest bound, split off its catch-all", () => {
    const rollup = [part('p_start', '2026-11-24 00:00:00'), part('p2026112400', '2026-11-25 00:00:00'), part('p_future', null)];
    expect(planRollupSync('dns_rollup_names', queries, rollup)).toEqual([
      "ALTER TABLE dns_rollup_names REORGANIZE PARTITION p_future INTO (PARTITION p2026112500 VALUES LESS THAN ('2026-11-25 01:00:00'), " +
        "PARTITION p2026112501 VALUES LESS THAN ('2026-11-25 02:00:00'), PARTITION p_future VALUES LESS THAN (MAXVALUE))",
    ]);
  });

  it('adds nothing when the rollup table is up to date or ahead, and drops with the table named', () => {
    expect(planRollupSync('dns_rollup_minute', queries, queries)).toEqual([]);
    expect(planRollupSync('dns_rollup_minute', queries.slice(0, 2), queries)).toEqual([]);
    expect(pruneStatements(planPrune(queries, '2026-11-25 01:00:00').drop, 'dns_rollup_minute')).toEqual([
      'ALTER TABLE dns_rollup_minute TRUNCATE PARTITION p_start',
      'ALTER TABLE dns_rollup_minute DROP PARTITION p2026112400, p2026112500',
    ]);
  });
});

describe('partition bounds are UTC', () => {
  it('whatever zone the tool runs in, the hours planned are UTC hours (Kolkata, UTC+05:30, plans the same as UTC)', () => {
    const before = process.env.TZ;
    try {
      const plans = ['UTC', 'Asia/Kolkata', 'America/New_York'].map((tz) => {
        process.env.TZ = tz;
        const at = new Date(Date.UTC(2026, 10, 25, 9, 40));
        return planPartitions({ parts: layout, now: at, granularity: 'hour', aheadMs: 2 * 3_600_000 }).add.map((p) => p.start);
      });
      expect(plans[0]).toEqual(['2026-11-25 10:00:00', '2026-11-25 11:00:00']);
      expect(plans[1]).toEqual(plans[0]);
      expect(plans[2]).toEqual(plans[0]);
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });
});
