/**
 * For the toolbox's own tests: a test that cannot run here (no root, a missing tool) is skipped on a
 * developer's machine, counted as skipped, but in CI (`CI` set) it fails with one line that says what
 * is missing: a CI runner that lost root or a package must not pass by skipping what it cannot run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'vitest';
import ssh2 from 'ssh2';

/** A CliIo that keeps what a command prints, for driving a program in-process. */
export { createMemoryIo, type MemoryIo } from './memory-io.js';

/** Is this a CI run (`CI=true`, as CI services and .ci/run set it)? */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/** The message a test fails with in CI when `missing` keeps it from running. */
export function cannotRunMessage(missing: string): string {
  return `cannot run here: ${missing} (in CI a test that cannot run fails instead of skipping)`;
}

type TestBody = () => unknown;

/**
 * `it`, unless `missing` says what keeps the test from running: then skipped, or failed in CI.
 * `missing` is undefined when everything is there.
 */
export function itNeeds(missing: string | undefined): (name: string, fn: TestBody, timeout?: number) => void {
  if (missing === undefined) return (name, fn, timeout) => it(name, fn, timeout);
  if (!isCi()) return (name, fn, timeout) => it.skip(name, fn, timeout);
  return (name) =>
    it(name, () => {
      throw new Error(cannotRunMessage(missing));
    });
}

/**
 * `describe`, unless `missing` says what keeps its tests from running: then all are skipped, or in
 * CI each of them fails with the reason (its hooks still run, so they must cope with that).
 */
export function describeNeeds(missing: string | undefined): (name: string, fn: () => void) => void {
  if (missing === undefined) return (name, fn) => describe(name, fn);
  if (!isCi()) return (name, fn) => describe.skip(name, fn);
  return (name, fn) =>
    describe(name, () => {
      beforeEach(() => {
        throw new Error(cannotRunMessage(missing));
      });
      fn();
    });
}

/** Why `cmds` cannot all be run: the first that is not on PATH (or at its absolute path), or undefined. */
export function missingCommand(cmds: string[], lookup: (cmd: string) => boolean): string | undefined {
  const gone = cmds.filter((c) => !lookup(c));
  return gone.length === 0 ? undefined : `${gone.join(', ')} not installed`;
}

/**
 * A real process holding `file` open on descriptor 3, for writing (`>>`) or reading (`<`), as
 * another program would: resolves once it has become `sleep` (its exec done, so the name the /proc
 * scan sees is settled). The caller kills it.
 */
export async function holdOpen(file: string, mode: '>>' | '<'): Promise<ChildProcess> {
  const c = spawn('sh', ['-c', `exec 3${mode}"$0"; exec sleep 30`, file], { stdio: 'ignore' });
  const started = Date.now();
  for (;;) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim();
    } catch {
      // not there yet
    }
    if (comm === 'sleep') return c;
    if (c.exitCode !== null || Date.now() - started > 10_000) {
      c.kill('SIGKILL');
      throw new Error(`holdOpen: the holder of ${file} did not start (exit ${String(c.exitCode)}, name '${comm}')`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * For a test file whose tests hold files open: `hold(file, mode)` is holdOpen, and every holder
 * still running is killed after each test.
 */
export function useFileHolders(): (file: string, mode: '>>' | '<') => Promise<ChildProcess> {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  return async (file, mode) => {
    const c = await holdOpen(file, mode);
    children.push(c);
    return c;
  };
}

/**
 * A fresh SSH key pair for a test peer or client. ssh2's generator now and then writes an ed25519
 * key that its own parser then calls malformed: such a pair is drawn again.
 */
export function sshKeyPair(type: 'ed25519' | 'ecdsa' = 'ed25519'): { private: string; public: string } {
  const generate = () =>
    type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519');
  let pair = generate();
  while (ssh2.utils.parseKey(pair.private) instanceof Error) pair = generate();
  return pair;
}

/** One relative import between two modules of a `src/` tree (paths relative to it, `/` separators). */
export interface ImportEdge {
  from: string;
  to: string;
  /** The specifier as written, e.g. `'../dns/resolver.js'`. */
  spec: string;
}

/** What `checkLayout` found: each fault is one line naming the modules and the import at fault. */
export interface LayoutCheck {
  /** Every module read (tests and `.d.ts` left out), sorted. */
  modules: string[];
  edges: ImportEdge[];
  /** Relative imports that name no module in the tree (a file moved, a worker path not updated). */
  missing: string[];
  /** One cycle per strongly connected group of modules, `import cycle: a.ts → b.ts → a.ts`. */
  cycles: string[];
  /** Imports of `commands/` from anywhere but `commands/` and the entry modules (`cli.ts`). */
  commandImports: string[];
  /** Cycles between layers (top-level directories; a top-level file is a layer of its own). */
  layerCycles: string[];
}

export interface LayoutRules {
  /** The layer only the entry modules and itself may import; default `commands`. */
  commands?: string;
  /** Top-level modules that wire the commands; default `['cli.ts']`. */
  entries?: readonly string[];
}

/** Modules under `dir` (tests and `.d.ts` left out), by their path relative to it, with their text. */
export function readModules(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) for (const [k, v] of readModules(dir, rel)) out.set(k, v);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts'))
      out.set(rel, readFileSync(join(dir, rel), 'utf8'));
  }
  return out;
}

// Anchored at a line's start, so an import quoted in a comment (` * import …`) is not read as one.
const STATIC_IMPORT = /^[ \t]*(?:import|export)\s+(?:type\s+)?[\w$*{},\s]*?\bfrom\s*(['"])(\.{1,2}\/[^'"\n]+)\1/gm;
const BARE_IMPORT = /^[ \t]*import\s*(['"])(\.{1,2}\/[^'"\n]+)\1/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*(['"])(\.{1,2}\/[^'"\n]+)\1\s*\)/g;
const URL_OF_MODULE = /\bnew URL\(\s*(['"])(\.{1,2}\/[^'"\n]+\.js)\1\s*,\s*import\.meta\.url\s*\)/g;

/**
 * The relative specifiers of one module: static imports and re-exports (`import type` too), bare
 * side-effect imports, dynamic `import()` and `new URL('./x.js', import.meta.url)` (a worker's path).
 */
function relativeSpecifiers(text: string): string[] {
  return [STATIC_IMPORT, BARE_IMPORT, DYNAMIC_IMPORT, URL_OF_MODULE].flatMap((re) => [...text.matchAll(re)].map((m) => m[2] ?? ''));
}

function importGraph(modules: ReadonlyMap<string, string>): { edges: ImportEdge[]; missing: string[] } {
  const edges: ImportEdge[] = [];
  const missing: string[] = [];
  for (const [from, text] of modules) {
    for (const spec of relativeSpecifiers(text)) {
      const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
      if (modules.has(to)) edges.push({ from, to, spec });
      else missing.push(`${from}: '${spec}' names no module in src`);
    }
  }
  return { edges, missing };
}

/** One cycle through each strongly connected group of nodes (Tarjan), as `[a, b, a]`. */
function importCycles(nodes: Iterable<string>, edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) ?? 0);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w !== undefined) {
          onStack.delete(w);
          group.push(w);
        }
      } while (w !== undefined && w !== v);
      if (group.length > 1 || (next.get(v) ?? []).includes(v)) groups.push(group);
    }
  };
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  // In each group, the shortest way from its first node back to itself (breadth first).
  return groups.map((group) => {
    const inGroup = new Set(group);
    const start = [...group].sort()[0] ?? '';
    const paths: string[][] = [[start]];
    for (const path of paths) {
      for (const w of next.get(path[path.length - 1] ?? '') ?? []) {
        if (w === start) return [...path, start];
        if (inGroup.has(w) && !paths.some((p) => p.includes(w))) paths.push([...path, w]);
      }
    }
    return [...group, group[0] ?? ''];
  });
}

/** `store/mysql/db-mysql.ts` is in layer `store`; `cli.ts` is a layer of its own. */
function layerOf(file: string): string {
  return file.includes('/') ? (file.split('/')[0] ?? file) : file;
}

/**
 * The layout faults of a tree given as module path → text (what `readModules` returns, or a
 * made-up tree in a test): imports naming no module, import cycles, imports of `commands/` from
 * the core, and cycles between layers.
 */
export function layoutFaults(modules: ReadonlyMap<string, string>, rules: LayoutRules = {}): LayoutCheck {
  const commands = rules.commands ?? 'commands';
  const entries = new Set(rules.entries ?? ['cli.ts']);
  const { edges, missing } = importGraph(modules);
  const cycles = importCycles(modules.keys(), edges).map((c) => `import cycle: ${c.join(' → ')}`);
  const commandImports = edges
    .filter((e) => layerOf(e.to) === commands && layerOf(e.from) !== commands && !entries.has(e.from))
    .map((e) => `${e.from} imports '${e.spec}': only ${[...entries].join(', ')} and ${commands}/ may import ${commands}/`);
  const crossing = edges.filter((e) => layerOf(e.from) !== layerOf(e.to));
  const layerEdges = crossing.map((e) => ({ from: layerOf(e.from), to: layerOf(e.to) }));
  const layerCycles = importCycles(new Set(layerEdges.map((e) => e.from)), layerEdges).map((c) => {
    const via = c.slice(1).map((to, i) => {
      const e = crossing.find((x) => layerOf(x.from) === c[i] && layerOf(x.to) === to);
      return e === undefined ? '' : `${e.from} imports '${e.spec}'`;
    });
    return `layers import each other: ${c.join(' → ')} (${via.join('; ')})`;
  });
  return { modules: [...modules.keys()].sort(), edges, missing, cycles, commandImports, layerCycles };
}

/**
 * The directory tree as the architecture: reads every module under `srcDir` (an app's `src/`) and
 * returns its layout faults. `cli.ts` wires `commands/`, the commands call the core, and nothing in
 * the core reaches back up; a layout test expects each fault list to be empty.
 */
export function checkLayout(srcDir: string, rules: LayoutRules = {}): LayoutCheck {
  return layoutFaults(readModules(srcDir), rules);
}
