// Sums the JSON reports every workspace's vitest wrote and prints one closing line
// "Tests: N passed, N failed, N skipped". Exits 1 when a test failed or a report is missing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const workspaces = [];
for (const pattern of rootPkg.workspaces) {
  if (pattern.endsWith('/*')) {
    const base = pattern.slice(0, -2);
    const { readdirSync } = await import('node:fs');
    for (const d of readdirSync(join(root, base)).sort()) workspaces.push(join(base, d));
  } else {
    workspaces.push(pattern);
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
for (const ws of workspaces) {
  const report = join(root, ws, '.test-results', 'vitest.json');
  if (!existsSync(report)) {
    console.log(`${ws.padEnd(20)} no test report (did its tests run?)`);
    missing++;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(
    `${ws.padEnd(20)} ${String(r.numPassedTests).padStart(4)} passed ${String(r.numFailedTests).padStart(3)} failed ${String(s).padStart(3)} skipped` +
      (r.numFailedTestSuites ? `  (${r.numFailedTestSuites} file(s) failed to run)` : ''),
  );
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numFailedTestSuites ?? 0);
  skipped += s;
}
console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 || missing > 0 ? 1 : 0;
