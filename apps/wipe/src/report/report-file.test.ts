import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReportFile } from './report-file.js';
import type { WipeReport } from './report.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wipe-report-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const report = (n: number): WipeReport => ({
  tool: 'wipe',
  version: String(n),
  standard: 'NIST SP 800-88 Rev. 1',
  host: 'h',
  operator: 'o',
  startedAt: 's',
  endedAt: 'e',
  targets: [],
});

describe('the report file', () => {
  it('checkpoints at most once per interval, each write whole, and a forced write always', async () => {
    let clock = 0;
    let n = 0;
    const f = path.join(dir, 'r.json');
    const rf = new ReportFile(
      f,
      () => report(++n),
      () => clock,
      2000,
    );
    await rf.write();
    rf.maybe(); // too soon
    await rf.settled();
    expect(n).toBe(1);
    clock = 2500;
    rf.maybe();
    rf.maybe(); // one is queued already
    await rf.settled();
    expect(n).toBe(2);
    expect((JSON.parse(readFileSync(f, 'utf8')) as WipeReport).version).toBe('2');
    await rf.write();
    expect(n).toBe(3);
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  it('a failed checkpoint is kept, the next ones still go', async () => {
    let clock = 0;
    const rf = new ReportFile(
      path.join(dir, 'missing', 'r.json'),
      () => report(1),
      () => clock,
      10,
    );
    await expect(rf.write()).rejects.toMatchObject({ code: 'ENOENT' });
    clock = 100;
    rf.maybe();
    await rf.settled();
    expect(rf.failure?.code).toBe('ENOENT');
  });
});
