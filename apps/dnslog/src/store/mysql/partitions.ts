/**
 * Partition planning for the MySQL/MariaDB table: pure functions from "what partitions exist, and
 * what time it is" to the DDL that keeps partitions ready ahead of time (`dnslog partitions`) and
 * the partitions retention may drop (`dnslog prune`). Times and partition bounds are UTC (schema
 * version 5), so an hour is an hour at every DST change and in every zone.
 */
import { UserError } from '@toolbox/shared';
import { textMs } from '../../time/zone.js';
import { MYSQL_CATCHALL_PARTITION, MYSQL_FIRST_PARTITION, boundaryLiteral, partitionName } from '../schema.js';

/** MySQL's hard limit on partitions per table. */
export const MAX_PARTITIONS = 8192;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type Granularity = 'hour' | 'day';

export interface PartitionInfo {
  name: string;
  /** Exclusive upper bound `YYYY-MM-DD HH:MM:SS`, or null for MAXVALUE. */
  lessThan: string | null;
  /** information_schema's estimate. */
  rows: number;
  bytes: number;
}

export interface NewPartition {
  name: string;
  start: string;
  lessThan: string;
}

export interface PartitionPlan {
  add: NewPartition[];
  /** The statement that adds them (none when nothing is missing). */
  statements: string[];
  /** Partitions after the plan (catch-all included). */
  total: number;
  /** First time not covered by a bounded partition after the plan. */
  coveredUntil: string | null;
  /** Partitions of the other granularity replaced by `add`'s. */
  reshaped: string[];
  /** Partitions of the other granularity left as they are because they (or the catch-all) hold rows or were not counted. */
  reshapeBlocked: string[];
}

const NAME = /^p[0-9A-Za-z_]+$/;

/** Throws unless `name` is one of ours (`p…`): the names that go into DDL and `PARTITION (…)` unquoted. */
export function checkPartitionName(name: string): void {
  if (!NAME.test(name)) throw new Error(`bad partition name ${name}`);
}

/** The instant of a stored UTC text `YYYY-MM-DD HH:MM:SS` (a partition bound, a cut-off). */
export function boundDate(text: string): Date {
  const ms = textMs(text);
  if (Number.isNaN(ms)) throw new Error(`not a partition boundary: ${text}`);
  return new Date(ms);
}

export function granularityMs(g: Granularity): number {
  return g === 'hour' ? HOUR_MS : DAY_MS;
}

function floorTo(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

/** information_schema's PARTITION_DESCRIPTION (`'2026-11-26 00:00:00'` or `MAXVALUE`) → lessThan. */
export function parseDescription(desc: string | null): string | null {
  if (desc === null || desc === 'MAXVALUE') return null;
  return desc.replace(/^'|'$/g, '');
}

/** Checks names (they go into DDL as identifiers) and that the table ends with the catch-all. */
export function checkLayout(parts: readonly PartitionInfo[], table: string): void {
  for (const p of parts) {
    if (!NAME.test(p.name))
      throw new UserError('E_PARTITION', `${table}: unexpected partition name '${p.name}'; dnslog only manages p… partitions`);
  }
  const last = parts[parts.length - 1];
  if (!last || last.lessThan !== null || last.name !== MYSQL_CATCHALL_PARTITION) {
    throw new UserError(
      'E_PARTITION',
      `${table}: the last partition must be the catch-all ${MYSQL_CATCHALL_PARTITION} VALUES LESS THAN (MAXVALUE); ` +
        `add it with ALTER TABLE dns_queries ADD PARTITION (PARTITION ${MYSQL_CATCHALL_PARTITION} VALUES LESS THAN (MAXVALUE))`,
    );
  }
}

export interface PlanPartitionsInput {
  parts: readonly PartitionInfo[];
  now: Date;
  granularity: Granularity;
  aheadMs: number;
  maxPartitions?: number;
  /**
   * Partitions known (by an exact count) to hold no row. Bounded partitions of the other
   * granularity that start after the current period are reshaped only when each of them, and the
   * catch-all, is in this set: reorganizing an empty partition moves nothing.
   */
  empty?: ReadonlySet<string>;
  table?: string;
}

/** Bounded partitions with their start (the previous one's bound; null for the first). */
function withStarts(parts: readonly PartitionInfo[]): { part: PartitionInfo; start: number | null; end: number }[] {
  const out: { part: PartitionInfo; start: number | null; end: number }[] = [];
  let prev: number | null = null;
  for (const part of parts) {
    if (part.lessThan === null) continue;
    const end = boundDate(part.lessThan).getTime();
    out.push({ part, start: prev, end });
    prev = end;
  }
  return out;
}

/**
 * Bounded partitions after the current period whose span is not the granularity's — daily ones
 * `db init` made before `--granularity hour`, or the reverse: the ones `planPartitions` may reshape.
 */
export function reshapeCandidates(parts: readonly PartitionInfo[], now: Date, granularity: Granularity): PartitionInfo[] {
  const step = granularityMs(granularity);
  const next = floorTo(now.getTime(), step) + step;
  const bounded = withStarts(parts);
  const first = bounded.findIndex((b) => b.start !== null && b.start >= next && b.end - b.start !== step);
  return first < 0 ? [] : bounded.slice(first).map((b) => b.part);
}

/**
 * The DDL that keeps partitions ready: the current period and the periods up to `now + ahead` — at
 * least two beyond the current one — each get their own partition, split off the (empty)
 * catch-all. Empty partitions of the other granularity ahead of the current period are reshaped
 * to this one in the same statement (see `empty`).
 */
export function planPartitions(input: PlanPartitionsInput): PartitionPlan {
  const table = input.table ?? 'dns_queries';
  const step = granularityMs(input.granularity);
  const current = floorTo(input.now.getTime(), step);
  const ahead = Math.max(2, Math.ceil(input.aheadMs / step));
  let target = current + (1 + ahead) * step;
  const candidates = reshapeCandidates(input.parts, input.now, input.granularity);
  const empty = input.empty ?? new Set<string>();
  const reshape =
    candidates.length > 0 && candidates.every((p) => empty.has(p.name)) && empty.has(MYSQL_CATCHALL_PARTITION) ? candidates : [];
  const kept = withStarts(input.parts).filter((b) => !reshape.includes(b.part));
  const lastEnd = kept.length > 0 ? (kept[kept.length - 1]?.end ?? null) : null;
  // A reshape never covers less than the partitions it replaces did.
  const replacedEnd = reshape.length > 0 ? boundDate(reshape[reshape.length - 1]?.lessThan ?? '').getTime() : null;
  if (replacedEnd !== null) target = Math.max(target, replacedEnd);
  const add: NewPartition[] = [];
  let start = lastEnd ?? current;
  while (start < target) {
    const end = floorTo(start, step) + step;
    add.push({ name: partitionName(new Date(start)), start: boundaryLiteral(new Date(start)), lessThan: boundaryLiteral(new Date(end)) });
    start = end;
  }
  const total = input.parts.length - reshape.length + add.length;
  const max = input.maxPartitions ?? MAX_PARTITIONS;
  if (total > max) {
    throw new UserError(
      'E_PARTITION_LIMIT',
      `${table} would have ${total} partitions, over the limit of ${max}: prune old data first (dnslog prune --keep …) or use --granularity day`,
    );
  }
  const statements =
    add.length === 0
      ? []
      : [
          `ALTER TABLE ${table} REORGANIZE PARTITION ${[...reshape.map((p) => p.name), MYSQL_CATCHALL_PARTITION].join(', ')} INTO (${add
            .map((p) => `PARTITION ${p.name} VALUES LESS THAN ('${p.lessThan}')`)
            .join(', ')}, PARTITION ${MYSQL_CATCHALL_PARTITION} VALUES LESS THAN (MAXVALUE))`,
        ];
  for (const p of reshape) checkPartitionName(p.name);
  const coveredUntil =
    add.length > 0 ? (add[add.length - 1]?.lessThan ?? null) : lastEnd === null ? null : boundaryLiteral(new Date(lastEnd));
  return {
    add,
    statements,
    total,
    coveredUntil,
    reshaped: reshape.map((p) => p.name),
    reshapeBlocked: reshape.length === 0 ? candidates.map((p) => p.name) : [],
  };
}

export interface PrunePlan {
  cutoff: string;
  /** Wholly older than the cutoff: dropped (the first partition is emptied with TRUNCATE instead). */
  drop: PartitionInfo[];
  keep: PartitionInfo[];
}

/**
 * Partitions whose every possible row is older than `cutoff` (their upper bound is at or before it).
 * A partition that straddles the cutoff is kept whole: retention never removes a newer row.
 */
export function planPrune(parts: readonly PartitionInfo[], cutoff: string): PrunePlan {
  const cut = boundDate(cutoff).getTime();
  const drop: PartitionInfo[] = [];
  const keep: PartitionInfo[] = [];
  for (const p of parts) {
    if (p.lessThan !== null && boundDate(p.lessThan).getTime() <= cut) drop.push(p);
    else keep.push(p);
  }
  return { cutoff, drop, keep };
}

/**
 * DDL for the partitions of a prune plan: one DROP for all of them (one metadata change), and the
 * first partition, which anchors the range, emptied with TRUNCATE instead of dropped.
 */
export function pruneStatements(parts: readonly PartitionInfo[], table = 'dns_queries'): string[] {
  for (const p of parts) checkPartitionName(p.name);
  const drop = parts.filter((p) => p.name !== MYSQL_FIRST_PARTITION).map((p) => p.name);
  const out: string[] = [];
  if (parts.some((p) => p.name === MYSQL_FIRST_PARTITION)) out.push(`ALTER TABLE ${table} TRUNCATE PARTITION ${MYSQL_FIRST_PARTITION}`);
  if (drop.length > 0) out.push(`ALTER TABLE ${table} DROP PARTITION ${drop.join(', ')}`);
  return out;
}

/**
 * DDL that gives a rollup table the bounded partitions dns_queries has beyond the rollup's own
 * newest bound, split off its catch-all: the rollups follow the rows' partitions, so that prune
 * drops both the same way.
 */
export function planRollupSync(table: string, queries: readonly PartitionInfo[], rollup: readonly PartitionInfo[]): string[] {
  const bounds = rollup.filter((p) => p.lessThan !== null).map((p) => boundDate(p.lessThan ?? '').getTime());
  const newest = bounds.length > 0 ? Math.max(...bounds) : -Infinity;
  const have = new Set(rollup.map((p) => p.name));
  const add = queries.filter((p) => p.lessThan !== null && boundDate(p.lessThan).getTime() > newest && !have.has(p.name));
  for (const p of add) checkPartitionName(p.name);
  if (add.length === 0) return [];
  return [
    `ALTER TABLE ${table} REORGANIZE PARTITION ${MYSQL_CATCHALL_PARTITION} INTO (${add
      .map((p) => `PARTITION ${p.name} VALUES LESS THAN ('${p.lessThan ?? ''}')`)
      .join(', ')}, PARTITION ${MYSQL_CATCHALL_PARTITION} VALUES LESS THAN (MAXVALUE))`,
  ];
}
