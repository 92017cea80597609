// The pure part of test-summary.mjs: vitest JSON reports in, lines out: a row per workspace, then
// what went wrong (a file that did not load, a workspace that did not run), then the closing line.
// Tested in test/src/test-summary.test.ts.

/**
 * @param {{ name: string, report: string | null, setupError: string | null, relativeTo: string }[]} workspaces
 * @param {(from: string, to: string) => string} relative
 * @returns {{ lines: string[], failed: boolean, passed: number, failedTests: number, skipped: number }}
 */
export function summarize(workspaces, relative) {
  const lines = [];
  const problems = [];
  let passed = 0;
  let failedTests = 0;
  let skipped = 0;
  let broken = false;
  const oneLine = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 300);
  for (const ws of workspaces) {
    const name = ws.name.padEnd(20);
    if (ws.report === null || ws.setupError !== null) {
      const why = ws.setupError
        ? oneLine(ws.setupError)
        : `its test command ended before vitest wrote ${ws.name}/.test-results/vitest.json (its output is above)`;
      problems.push(`${ws.name}: tests did not run: ${why}`);
      lines.push(`${name} did not run`);
      failedTests++;
      broken = true;
      continue;
    }
    let r;
    try {
      r = JSON.parse(ws.report);
    } catch {
      problems.push(`${ws.name}: tests did not finish: its report .test-results/vitest.json is not JSON (cut short?)`);
      lines.push(`${name} did not run`);
      failedTests++;
      broken = true;
      continue;
    }
    let p = 0;
    let f = 0;
    let s = 0;
    const notes = [];
    for (const file of r.testResults ?? []) {
      const results = file.assertionResults ?? [];
      for (const a of results) {
        if (a.status === 'passed') p++;
        else if (a.status === 'failed') f++;
        else s++;
      }
      // A file that failed with no failed test in it: it did not load, or a hook outside the tests
      // failed. It counts as one failed test, named here.
      if (file.status === 'failed' && !results.some((a) => a.status === 'failed')) {
        f++;
        const what = results.length === 0 ? 'failed to load' : 'failed outside its tests';
        notes.push(`${ws.name}: ${relative(ws.relativeTo, file.name)} ${what}: ${oneLine(file.message || 'no message')}`);
      }
    }
    problems.push(...notes);
    if (p + f + s === 0) {
      problems.push(`${ws.name}: ran no test (${(r.testResults ?? []).length} test files found)`);
      f++;
      broken = true;
    }
    lines.push(`${name} ${String(p).padStart(4)} passed ${String(f).padStart(3)} failed ${String(s).padStart(3)} skipped`);
    passed += p;
    failedTests += f;
    skipped += s;
  }
  lines.push(...problems);
  lines.push(`Tests: ${passed} passed, ${failedTests} failed, ${skipped} skipped`);
  return { lines, failed: broken || failedTests > 0, passed, failedTests, skipped };
}
