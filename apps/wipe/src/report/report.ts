/**
 * The sanitization report: what a NIST SP 800-88 certificate of sanitization records, as JSON (for
 * --report and --resume) and as text (printed at the end).
 */
import { formatBytes } from '@toolbox/shared/cli';

export interface VerifyRecord {
  /** How the bytes were read back. */
  readMode: 'O_DIRECT' | 'page cache';
  /** Why the page cache was used, when it was. */
  readModeNote: string | null;
  result: 'match' | 'mismatch' | 'error' | 'interrupted';
  checkedBytes: number;
  /** Bytes of the pass's unwritten ranges, not read back (older reports lack it). */
  skippedBytes?: number;
  mismatchedBytes: number;
  firstMismatchOffsets: number[];
  seconds: number;
  mbPerSecond: number;
  error: string | null;
}

/** A half-open byte range [start, end) of a target. */
export type ByteRange = [start: number, end: number];

export interface PassRecord {
  index: number;
  /** "0x55", "0x92 0x49 0x24" or "random". */
  pattern: string;
  /** AES-256-CTR key and IV of a random pass, so that verification and --resume regenerate it. */
  random: { key: string; iv: string } | null;
  verifyPlanned: boolean;
  /** Bytes of the target that hold this pass (from offset 0). */
  bytesWritten: number;
  status: 'done' | 'partial' | 'not started' | 'failed';
  /**
   * With --continue-on-error: the byte ranges this pass could not overwrite (the device failed the
   * write of each of their logical blocks), merged and sorted; all below `bytesWritten`. Empty when
   * none; older reports lack it (read it with `unwrittenOf`).
   */
  unwritten?: ByteRange[];
  seconds: number;
  mbPerSecond: number;
  verify: VerifyRecord | null;
}

/**
 * 'in-progress': a checkpoint written while the wipe ran; a report left with it was killed mid-run
 * and can be resumed. 'in-place-not-guaranteed': every byte written and read back, on a file system that may keep the old data elsewhere.
 * 'incomplete': every pass ran to the end (--continue-on-error), but the ranges each pass lists in
 * `unwritten` could not be overwritten by it. */
export type Outcome = 'wiped' | 'in-place-not-guaranteed' | 'incomplete' | 'verify-failed' | 'interrupted' | 'failed' | 'in-progress';

/** What the passes of a target left unwritten, over all its passes. */
export interface Coverage {
  /** Bytes that at least one pass could not overwrite (the union of the passes' ranges). */
  unwrittenBytes: number;
  /** Ranges in that union. */
  ranges: number;
  /** Where the first of them starts, or null. */
  firstUnwritten: number | null;
  /** Bytes that no pass overwrote (the intersection): the old data may still be there. */
  neverOverwrittenBytes: number;
}

export interface TargetRecord {
  target: string;
  resolved: string;
  kind: 'block' | 'file';
  model: string | null;
  serial: string | null;
  sizeBytes: number;
  rotational: boolean | null;
  method: string;
  /** NIST SP 800-88 category reached by overwriting. */
  sanitization: 'Clear';
  writeMode: 'O_DIRECT' | 'page cache';
  passes: PassRecord[];
  verification: 'passed' | 'failed' | 'not run' | 'incomplete';
  outcome: Outcome;
  error: string | null;
  removed: boolean;
  /** Files: whether the file system overwrites in place (null for block devices, and in older reports). */
  inPlace?: { fsType: string; guaranteed: boolean; why: string | null } | null;
  /** Summary of the passes' unwritten ranges (older reports lack it). */
  coverage?: Coverage;
  warnings: string[];
  startedAt: string;
  endedAt: string;
}

export interface WipeReport {
  tool: 'wipe';
  version: string;
  standard: 'NIST SP 800-88 Rev. 1';
  host: string;
  operator: string;
  startedAt: string;
  endedAt: string;
  /** Every run that worked on this report: the first, then each --resume (older reports lack it). */
  runs?: { startedAt: string; endedAt: string; host: string }[];
  targets: TargetRecord[];
}

export function mbPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? Math.round((bytes / 1e6 / seconds) * 10) / 10 : 0;
}

export function targetVerification(passes: readonly PassRecord[]): TargetRecord['verification'] {
  const planned = passes.filter((x) => x.verifyPlanned);
  if (planned.length === 0) return 'not run';
  if (planned.some((x) => x.verify?.result === 'mismatch')) return 'failed';
  if (planned.every((x) => x.verify?.result === 'match')) return 'passed';
  return 'incomplete';
}

/** A pass's unwritten ranges; older reports lack the field. */
export function unwrittenOf(p: Pick<PassRecord, 'unwritten'>): ByteRange[] {
  return p.unwritten ?? [];
}

export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((n, [a, b]) => n + (b - a), 0);
}

/** Sorted, merged (overlapping and touching ranges joined), empty ranges dropped. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges
    .filter(([a, b]) => b > a)
    .map(([a, b]): ByteRange => [a, b])
    .sort((x, y) => x[0] - y[0]);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** The bytes in every one of the lists (each sorted and merged). */
export function intersectRanges(lists: readonly (readonly ByteRange[])[]): ByteRange[] {
  if (lists.length === 0) return [];
  let acc: ByteRange[] = mergeRanges(lists[0] ?? []);
  for (const list of lists.slice(1)) {
    const next: ByteRange[] = [];
    let i = 0;
    let j = 0;
    while (i < acc.length && j < list.length) {
      const a = acc[i] as ByteRange;
      const b = list[j] as ByteRange;
      const lo = Math.max(a[0], b[0]);
      const hi = Math.min(a[1], b[1]);
      if (lo < hi) next.push([lo, hi]);
      if (a[1] < b[1]) i++;
      else j++;
    }
    acc = next;
  }
  return acc;
}

export function coverageOf(passes: readonly PassRecord[]): Coverage {
  const lists = passes.map(unwrittenOf);
  const union = mergeRanges(lists.flat());
  return {
    unwrittenBytes: rangeBytes(union),
    ranges: union.length,
    firstUnwritten: union[0]?.[0] ?? null,
    neverOverwrittenBytes: rangeBytes(intersectRanges(lists)),
  };
}

/** How many ranges formatReport shows per pass before "… and N more". */
export const SHOWN_RANGES = 5;

function formatRanges(ranges: readonly ByteRange[]): string {
  const shown = ranges
    .slice(0, SHOWN_RANGES)
    .map(([a, b]) => `[${a}, ${b})`)
    .join(', ');
  return ranges.length > SHOWN_RANGES ? `${shown} … and ${ranges.length - SHOWN_RANGES} more` : shown;
}

/** Where a wipe stands: the first pass not done, and how far it got. */
export function resumePoint(t: TargetRecord): { passIndex: number; offset: number } | null {
  for (const pass of t.passes) {
    if (pass.status !== 'done') return { passIndex: pass.index, offset: pass.bytesWritten };
    if (pass.verifyPlanned && pass.verify?.result !== 'match') return { passIndex: pass.index, offset: t.sizeBytes };
  }
  return null;
}

export function formatReport(r: WipeReport): string {
  const lines: string[] = [
    `Sanitization report (${r.standard})`,
    `  tool      wipe ${r.version}`,
    `  host      ${r.host}`,
    `  operator  ${r.operator}`,
    `  started   ${r.startedAt}`,
    `  ended     ${r.endedAt}`,
  ];
  for (const t of r.targets) {
    lines.push(
      '',
      `  target    ${t.target}${t.resolved !== t.target ? ` (-> ${t.resolved})` : ''} [${t.kind}]`,
      `  model     ${t.model ?? '-'}   serial ${t.serial ?? '-'}`,
      `  size      ${t.sizeBytes} bytes (${formatBytes(t.sizeBytes)})`,
      `  method    ${t.method}, ${t.passes.length} pass(es), NIST ${t.sanitization}, writes via ${t.writeMode}`,
    );
    for (const p of t.passes) {
      let line = `    pass ${String(p.index).padStart(2)}  ${p.pattern.padEnd(16)} ${p.status.padEnd(11)} ${String(p.bytesWritten).padStart(14)} B  ${p.seconds.toFixed(1).padStart(7)} s  ${p.mbPerSecond.toFixed(1).padStart(8)} MB/s`;
      if (p.verify) {
        const v = p.verify;
        line += `  verify ${v.result}`;
        if (v.result === 'mismatch') line += ` (${v.mismatchedBytes} bytes differ, first at ${v.firstMismatchOffsets.join(', ')})`;
        line += ` via ${v.readMode}, ${v.mbPerSecond.toFixed(1)} MB/s`;
      }
      lines.push(line);
      const unwritten = unwrittenOf(p);
      if (unwritten.length > 0) {
        lines.push(`      unwritten ${rangeBytes(unwritten)} bytes in ${unwritten.length} range(s): ${formatRanges(unwritten)}`);
      }
    }
    const c = t.coverage;
    if (c && c.unwrittenBytes > 0) {
      lines.push(
        `  coverage  ${c.unwrittenBytes} bytes in ${c.ranges} range(s) not overwritten by every pass (first at byte ${c.firstUnwritten ?? '-'}); ${c.neverOverwrittenBytes} bytes by none`,
      );
    }
    lines.push(
      `  verified  ${t.verification}`,
      `  outcome   ${t.outcome}${t.error ? `: ${t.error}` : ''}${t.removed ? ' (file removed)' : ''}`,
    );
    for (const w of t.warnings) lines.push(`  warning   ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
