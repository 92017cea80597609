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
  mismatchedBytes: number;
  firstMismatchOffsets: number[];
  seconds: number;
  mbPerSecond: number;
  error: string | null;
}

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
  seconds: number;
  mbPerSecond: number;
  verify: VerifyRecord | null;
}

/**
 * 'in-progress': a checkpoint written while the wipe ran; a report left with it was killed mid-run
 * and can be resumed. 'in-place-not-guaranteed': every byte written and read back, on a file system that may keep the old data elsewhere. */
export type Outcome = 'wiped' | 'in-place-not-guaranteed' | 'verify-failed' | 'interrupted' | 'failed' | 'in-progress';

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
    }
    lines.push(`  verified  ${t.verification}`, `  outcome   ${t.outcome}${t.error ? `: ${t.error}` : ''}${t.removed ? ' (file removed)' : ''}`);
    for (const w of t.warnings) lines.push(`  warning   ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
