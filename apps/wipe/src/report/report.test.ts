import { describe, expect, it } from 'vitest';
import {
  formatReport,
  mbPerSecond,
  resumePoint,
  targetVerification,
  type PassRecord,
  type TargetRecord,
  type WipeReport,
} from './report.js';

const pass = (over: Partial<PassRecord>): PassRecord => ({
  index: 1,
  pattern: '0x55',
  random: null,
  verifyPlanned: false,
  bytesWritten: 0,
  status: 'not started',
  seconds: 0,
  mbPerSecond: 0,
  verify: null,
  ...over,
});
const verified = (result: 'match' | 'mismatch') => ({
  readMode: 'O_DIRECT' as const,
  readModeNote: null,
  result,
  checkedBytes: 1000,
  mismatchedBytes: result === 'match' ? 0 : 2,
  firstMismatchOffsets: result === 'match' ? [] : [10, 11],
  seconds: 1,
  mbPerSecond: 0,
  error: null,
});
const target = (passes: PassRecord[]): TargetRecord => ({
  target: '/dev/loop7',
  resolved: '/dev/loop7',
  kind: 'block',
  model: 'M',
  serial: 'S',
  sizeBytes: 1000,
  rotational: true,
  method: 'pattern',
  sanitization: 'Clear',
  writeMode: 'O_DIRECT',
  passes,
  verification: 'not run',
  outcome: 'interrupted',
  error: null,
  removed: false,
  warnings: [],
  startedAt: 'a',
  endedAt: 'b',
});

describe('resumePoint', () => {
  it('is the first pass not done, at the bytes it got to', () => {
    expect(
      resumePoint(target([pass({ status: 'done', bytesWritten: 1000 }), pass({ index: 2, status: 'partial', bytesWritten: 400 })])),
    ).toEqual({ passIndex: 2, offset: 400 });
  });
  it('is a done pass whose planned verification did not finish, with nothing left to write', () => {
    expect(resumePoint(target([pass({ status: 'done', bytesWritten: 1000, verifyPlanned: true })]))).toEqual({
      passIndex: 1,
      offset: 1000,
    });
  });
  it('is null when everything is written and verified', () => {
    expect(resumePoint(target([pass({ status: 'done', bytesWritten: 1000, verifyPlanned: true, verify: verified('match') })]))).toBeNull();
  });
});

describe('targetVerification and formatReport', () => {
  it('fails when any planned verification found a mismatch and shows the offsets', () => {
    const passes = [pass({ status: 'done', bytesWritten: 1000, verifyPlanned: true, verify: verified('mismatch') })];
    expect(targetVerification(passes)).toBe('failed');
    expect(targetVerification([pass({ verifyPlanned: false })])).toBe('not run');
    const t = { ...target(passes), verification: 'failed' as const, outcome: 'verify-failed' as const };
    const r: WipeReport = {
      tool: 'wipe',
      version: '0.1.0',
      standard: 'NIST SP 800-88 Rev. 1',
      host: 'h',
      operator: 'op',
      startedAt: 's',
      endedAt: 'e',
      targets: [t],
    };
    const text = formatReport(r);
    expect(text).toContain('  model     M   serial S\n');
    expect(text).toContain('verify mismatch (2 bytes differ, first at 10, 11) via O_DIRECT');
    expect(text).toContain('  outcome   verify-failed\n');
    expect(mbPerSecond(2e9, 2)).toBe(1000);
  });
});
