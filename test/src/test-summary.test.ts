/**
 * The closing line of the README's test command (scripts/test-summary-core.mjs): counts tests, not
 * describe blocks; a file that did not load counts as failed and is named; a workspace that never
 * ran, or ran nothing, fails with its reason on the line before the closing line.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { summarize } from '../../scripts/test-summary-core.mjs';

interface Summary {
  lines: string[];
  failed: boolean;
}
const run = summarize as (
  ws: { name: string; report: string | null; setupError: string | null; relativeTo: string }[],
  rel: (a: string, b: string) => string,
) => Summary;
const rel = (from: string, to: string) => (to.startsWith(`${from}/`) ? to.slice(from.length + 1) : to);

const a = (status: string, title = 't') => ({ status, title, ancestorTitles: ['d1', 'd2'], failureMessages: [] });
const report = (files: { name: string; status: string; message?: string; tests: ReturnType<typeof a>[] }[]) =>
  JSON.stringify({
    // vitest counts describe blocks here: a failed test fails its two enclosing blocks too
    numFailedTestSuites: 2,
    testResults: files.map((f) => ({ name: f.name, status: f.status, message: f.message ?? '', assertionResults: f.tests })),
  });

describe('test summary', () => {
  it('one failing test is one failed test, not three', () => {
    const r = run(
      [
        {
          name: 'apps/x',
          relativeTo: '/r/apps/x',
          setupError: null,
          report: report([{ name: '/r/apps/x/src/a.test.ts', status: 'failed', tests: [a('passed'), a('failed'), a('skipped')] }]),
        },
      ],
      rel,
    );
    expect(r.lines.at(-1)).toBe('Tests: 1 passed, 1 failed, 1 skipped');
    expect(r.failed).toBe(true);
  });

  it('a file that failed to load counts as failed and is named', () => {
    const r = run(
      [
        {
          name: 'apps/x',
          relativeTo: '/r/apps/x',
          setupError: null,
          report: report([
            { name: '/r/apps/x/src/ok.test.ts', status: 'passed', tests: [a('passed'), a('passed')] },
            { name: '/r/apps/x/src/broken.test.ts', status: 'failed', message: "Cannot find module './gone.js'\n  at x", tests: [] },
          ]),
        },
      ],
      rel,
    );
    expect(r.lines.slice(-2)).toEqual([
      "apps/x: src/broken.test.ts failed to load: Cannot find module './gone.js' at x",
      'Tests: 2 passed, 1 failed, 0 skipped',
    ]);
    expect(r.failed).toBe(true);
  });

  it('a workspace without a report fails with its reason on the line before the closing line', () => {
    const ok = report([{ name: '/r/a/src/ok.test.ts', status: 'passed', tests: [a('passed')] }]);
    const r = run(
      [
        { name: 'apps/a', relativeTo: '/r/apps/a', setupError: null, report: ok },
        {
          name: 'test',
          relativeTo: '/r/test',
          setupError: 'services.sh: error: apt-get could not install bind9 (log: /x/apt.log)\n',
          report: null,
        },
      ],
      rel,
    );
    expect(r.lines.slice(-2)).toEqual([
      'test: tests did not run: services.sh: error: apt-get could not install bind9 (log: /x/apt.log)',
      'Tests: 1 passed, 1 failed, 0 skipped',
    ]);
    expect(r.failed).toBe(true);
    // vitest writes an empty report when its global set-up failed: the set-up's reason still wins
    const empty = run(
      [{ name: 'test', relativeTo: '/r/test', setupError: 'services.sh: error: named-checkconf rejects x', report: report([]) }],
      rel,
    );
    expect(empty.lines.slice(-2)).toEqual([
      'test: tests did not run: services.sh: error: named-checkconf rejects x',
      'Tests: 0 passed, 1 failed, 0 skipped',
    ]);
    const none = run([{ name: 'test', relativeTo: '/r/test', setupError: null, report: null }], rel);
    expect(none.lines.at(-2)).toMatch(
      /^test: tests did not run: its test command ended before vitest wrote test\/\.test-results\/vitest\.json/,
    );
    expect(none.failed).toBe(true);
  });

  it('a workspace that ran no test fails', () => {
    const r = run([{ name: 'apps/a', relativeTo: '/r/apps/a', setupError: null, report: report([]) }], rel);
    expect(r.lines.slice(-2)).toEqual(['apps/a: ran no test (0 test files found)', 'Tests: 0 passed, 1 failed, 0 skipped']);
    expect(r.failed).toBe(true);
  });

  it('all passed and skipped: not failed', () => {
    const r = run(
      [
        {
          name: 'apps/a',
          relativeTo: '/r/apps/a',
          setupError: null,
          report: report([{ name: '/r/apps/a/t.test.ts', status: 'passed', tests: [a('passed'), a('skipped'), a('todo')] }]),
        },
      ],
      rel,
    );
    expect(r.lines).toEqual(['apps/a                  1 passed   0 failed   2 skipped', 'Tests: 1 passed, 0 failed, 2 skipped']);
    expect(r.failed).toBe(false);
  });
});
