// Sums the JSON reports every workspace's vitest wrote and prints one closing line
// "Tests: N passed, N failed, N skipped". A test file that failed to load (or failed outside its
// tests) counts as one failed test and is named; a workspace whose tests never ran, or ran none,
// counts as one failed too, with its reason on the line before. Exits 1 when anything failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { summarize } from './test-summary-core.mjs';

const root = new URL('..', import.meta.url).pathname;
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const workspaces = [];
for (const pattern of rootPkg.workspaces) {
  if (pattern.endsWith('/*')) {
    const base = pattern.slice(0, -2);
    for (const d of readdirSync(join(root, base)).sort()) workspaces.push(join(base, d));
  } else {
    workspaces.push(pattern);
  }
}

const readIf = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : null);
const inputs = workspaces.map((ws) => ({
  name: ws,
  report: readIf(join(root, ws, '.test-results', 'vitest.json')),
  // written by a workspace's test set-up when it fails before vitest can write a report
  setupError: readIf(join(root, ws, '.test-results', 'setup-error.txt')),
  relativeTo: join(root, ws),
}));
const { lines, failed } = summarize(inputs, (from, to) => relative(from, to));
for (const l of lines) console.log(l);
process.exitCode = failed ? 1 : 0;
