import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLayout, layoutFaults, readModules } from './testing.js';

describe('layoutFaults', () => {
  it('the checks catch what they are for (a cycle, an upward import, a worker path that moved)', () => {
    const bad = new Map([
      ['cli.ts', "const run = () => import('./commands/run-command.js');\n"],
      ['commands/run-command.ts', "import { ship } from '../ship/ship.js';\n"],
      [
        'ship/ship.ts',
        "import {\n  type Store,\n  open,\n} from '../store/store.js';\n// not an import: import('./nothing.js') in a comment is read, so keep comments free of them\n",
      ],
      ['store/store.ts', "export { progress } from '../commands/run-command.js';\nimport type { Row } from './row.js';\n"],
      ['store/row.ts', "const w = new Worker(new URL('./writer.js', import.meta.url));\n"],
      ['parse/p.ts', "import './side-effect.js';\n/**\n * import { x } from '../store/nowhere.js';\n */\n"],
      ['time/a.ts', "import type { B } from './b.js';\n"],
      ['time/b.ts', "export type { A } from './a.js';\n"],
    ]);
    const f = layoutFaults(bad);
    expect(f.missing).toEqual([
      "ship/ship.ts: './nothing.js' names no module in src",
      "store/row.ts: './writer.js' names no module in src",
      "parse/p.ts: './side-effect.js' names no module in src",
    ]);
    expect(f.cycles).toEqual([
      'import cycle: commands/run-command.ts → ship/ship.ts → store/store.ts → commands/run-command.ts',
      'import cycle: time/a.ts → time/b.ts → time/a.ts',
    ]);
    expect(f.commandImports).toEqual([
      "store/store.ts imports '../commands/run-command.js': only cli.ts and commands/ may import commands/",
    ]);
    expect(f.layerCycles).toEqual([
      "layers import each other: commands → ship → store → commands (commands/run-command.ts imports '../ship/ship.js'; ship/ship.ts imports '../store/store.js'; store/store.ts imports '../commands/run-command.js')",
    ]);
    expect(f.edges).toHaveLength(7);
    expect(f.modules).toEqual([
      'cli.ts',
      'commands/run-command.ts',
      'parse/p.ts',
      'ship/ship.ts',
      'store/row.ts',
      'store/store.ts',
      'time/a.ts',
      'time/b.ts',
    ]);
  });

  it('finds nothing in a tree laid out by the rules', () => {
    const good = new Map([
      ['cli.ts', "import { run } from './commands/run-command.js';\n"],
      ['commands/run-command.ts', "import { a } from '../core/a.js';\nimport { b } from './b-command.js';\n"],
      ['commands/b-command.ts', "import type { A } from '../core/a.js';\n"],
      ['core/a.ts', 'export const a = 1;\n'],
    ]);
    expect(layoutFaults(good)).toMatchObject({ missing: [], cycles: [], commandImports: [], layerCycles: [] });
  });

  it('other entry modules may be allowed to import commands/', () => {
    const tree = new Map([
      ['main.ts', "import './commands/x.js';\n"],
      ['commands/x.ts', ''],
    ]);
    expect(layoutFaults(tree).commandImports).toEqual([
      "main.ts imports './commands/x.js': only cli.ts and commands/ may import commands/",
    ]);
    expect(layoutFaults(tree, { entries: ['main.ts'] }).commandImports).toEqual([]);
  });
});

describe('checkLayout', () => {
  let dir = '';
  afterEach(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('reads the tree from disk, leaving out tests and .d.ts files', () => {
    dir = mkdtempSync(join(tmpdir(), 'check-layout-'));
    const files: Record<string, string> = {
      'cli.ts': "import './commands/go-command.js';\n",
      'commands/go-command.ts': "import { x } from '../core/deep/x.js';\n",
      'commands/go-command.test.ts': "import '../cli.js';\n",
      'core/deep/x.ts': "import '../../commands/go-command.js';\n",
      'core/types.d.ts': "import './nowhere.js';\n",
    };
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    }
    expect([...readModules(dir).keys()].sort()).toEqual(['cli.ts', 'commands/go-command.ts', 'core/deep/x.ts']);
    const f = checkLayout(dir);
    expect(f.missing).toEqual([]);
    expect(f.cycles).toEqual(['import cycle: commands/go-command.ts → core/deep/x.ts → commands/go-command.ts']);
    expect(f.commandImports).toEqual([
      "core/deep/x.ts imports '../../commands/go-command.js': only cli.ts and commands/ may import commands/",
    ]);
    expect(f.layerCycles).toEqual([
      "layers import each other: commands → core → commands (commands/go-command.ts imports '../core/deep/x.js'; core/deep/x.ts imports '../../commands/go-command.js')",
    ]);
  });
});
