/**
 * The directory tree is the architecture: `cli.ts` wires `commands/`, the commands call the core
 * (`parse/`, `ship/`, `store/`, `report/`, `time/`), and nothing in the core reaches back up. This
 * reads every module's relative imports (static, `import type`, `export … from`, dynamic `import()`
 * and `new URL('./x.js', import.meta.url)` such as the SQLite writer's worker) and fails naming the
 * cycle or the import that breaks the rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('.', import.meta.url));

interface Edge {
  from: string;
  to: string;
  spec: string;
}

/** Modules under `dir` (tests left out), by their path relative to it with `/` separators. */
function modulesIn(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) for (const [k, v] of modulesIn(dir, rel)) out.set(k, v);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.set(rel, readFileSync(join(dir, rel), 'utf8'));
  }
  return out;
}

// Anchored at a line's start, so an import quoted in a comment (` * import …`) is not read as one.
const STATIC = /^[ \t]*(?:import|export)\s+(?:type\s+)?[\w$*{},\s]*?\bfrom\s*(['"])(\.{1,2}\/[^'"\n]+)\1/gm;
const BARE = /^[ \t]*import\s*(['"])(\.{1,2}\/[^'"\n]+)\1/gm;
const DYNAMIC = /\bimport\(\s*(['"])(\.{1,2}\/[^'"\n]+)\1\s*\)/g;
const URL_OF = /\bnew URL\(\s*(['"])(\.{1,2}\/[^'"\n]+\.js)\1\s*,\s*import\.meta\.url\s*\)/g;

function specifiers(text: string): string[] {
  return [STATIC, BARE, DYNAMIC, URL_OF].flatMap((re) => [...text.matchAll(re)].map((m) => m[2] ?? ''));
}

/** Every relative import between the modules, and the ones that name no module. */
function importGraph(modules: ReadonlyMap<string, string>): { edges: Edge[]; unresolved: string[] } {
  const edges: Edge[] = [];
  const unresolved: string[] = [];
  for (const [from, text] of modules) {
    for (const spec of specifiers(text)) {
      const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
      if (modules.has(to)) edges.push({ from, to, spec });
      else unresolved.push(`${from}: '${spec}' names no module in src`);
    }
  }
  return { edges, unresolved };
}

/** One cycle through each strongly connected group of nodes (Tarjan), as `a → b → a`. */
function cycles(nodes: Iterable<string>, edges: readonly Edge[]): string[][] {
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

/** The layout's faults, as lines that name the modules and imports at fault. */
function layoutFaults(modules: ReadonlyMap<string, string>): { unresolved: string[]; cycles: string[]; upward: string[]; layerCycles: string[] } {
  const { edges, unresolved } = importGraph(modules);
  const fileCycles = cycles(modules.keys(), edges).map((c) => `import cycle: ${c.join(' → ')}`);
  const upward = edges
    .filter((e) => layerOf(e.to) === 'commands' && layerOf(e.from) !== 'commands' && e.from !== 'cli.ts')
    .map((e) => `${e.from} imports '${e.spec}': only cli.ts and commands/ may import commands/`);
  const crossing = edges.filter((e) => layerOf(e.from) !== layerOf(e.to));
  const layerEdges = crossing.map((e) => ({ from: layerOf(e.from), to: layerOf(e.to), spec: e.spec }));
  const layerCycles = cycles(new Set(layerEdges.map((e) => e.from)), layerEdges).map((c) => {
    const via = c.slice(1).map((to, i) => {
      const e = crossing.find((x) => layerOf(x.from) === c[i] && layerOf(x.to) === to);
      return e === undefined ? '' : `${e.from} imports '${e.spec}'`;
    });
    return `layers import each other: ${c.join(' → ')} (${via.join('; ')})`;
  });
  return { unresolved, cycles: fileCycles, upward, layerCycles };
}

describe('the layout of src', () => {
  const modules = modulesIn(SRC);
  const faults = layoutFaults(modules);

  it('reads the imports of every module, and each names a module in src', () => {
    expect(modules.has('cli.ts')).toBe(true);
    expect(modules.size).toBeGreaterThan(30);
    expect([...modules.keys()].filter((f) => f.endsWith('.test.ts'))).toEqual([]);
    expect(importGraph(modules).edges.length).toBeGreaterThan(100);
    expect(faults.unresolved).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(faults.cycles).toEqual([]);
  });

  it('commands import the core, never the other way round', () => {
    expect(faults.upward).toEqual([]);
  });

  it('has no cycles between layers (top-level directories) either', () => {
    expect(faults.layerCycles).toEqual([]);
  });

  it('the checks catch what they are for (a cycle, an upward import, a worker path that moved)', () => {
    const bad = new Map([
      ['cli.ts', "const run = () => import('./commands/run-command.js');\n"],
      ['commands/run-command.ts', "import { ship } from '../ship/ship.js';\n"],
      ['ship/ship.ts', "import {\n  type Store,\n  open,\n} from '../store/store.js';\n// not an import: import('./nothing.js') in a comment is read, so keep comments free of them\n"],
      ['store/store.ts', "export { progress } from '../commands/run-command.js';\nimport type { Row } from './row.js';\n"],
      ['store/row.ts', "const w = new Worker(new URL('./writer.js', import.meta.url));\n"],
      ['parse/p.ts', "import './side-effect.js';\n/**\n * import { x } from '../store/nowhere.js';\n */\n"],
      ['time/a.ts', "import type { B } from './b.js';\n"],
      ['time/b.ts', "export type { A } from './a.js';\n"],
    ]);
    const f = layoutFaults(bad);
    expect(f.unresolved).toEqual([
      "ship/ship.ts: './nothing.js' names no module in src",
      "store/row.ts: './writer.js' names no module in src",
      "parse/p.ts: './side-effect.js' names no module in src",
    ]);
    expect(f.cycles).toEqual([
      'import cycle: commands/run-command.ts → ship/ship.ts → store/store.ts → commands/run-command.ts',
      'import cycle: time/a.ts → time/b.ts → time/a.ts',
    ]);
    expect(f.upward).toEqual(["store/store.ts imports '../commands/run-command.js': only cli.ts and commands/ may import commands/"]);
    expect(f.layerCycles).toEqual([
      "layers import each other: commands → ship → store → commands (commands/run-command.ts imports '../ship/ship.js'; ship/ship.ts imports '../store/store.js'; store/store.ts imports '../commands/run-command.js')",
    ]);
  });
});
