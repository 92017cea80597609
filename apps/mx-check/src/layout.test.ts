/**
 * The directory tree is the architecture: `cli.ts` wires `commands/`, the commands call the core —
 * `check/` (the runs over domains and the hosts file), `auth/` (the zone's own servers), `classify/`
 * (pure judgement of names, addresses and MX sets), `dns/` (the stub resolver), `output/` — and
 * nothing in the core reaches back up. The shared `checkLayout` reads every module's relative
 * imports (`import type` and dynamic `import()` too) and names the cycle or the import that breaks
 * the rule; its own test checks it on a made-up tree.
 */
import { fileURLToPath } from 'node:url';
import { checkLayout } from '@toolbox/shared/testing';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('.', import.meta.url));

describe('the layout of src', () => {
  const layout = checkLayout(SRC);

  it('reads the imports of every module, and each names a module in src', () => {
    expect(layout.modules).toContain('cli.ts');
    expect(layout.modules).toContain('commands/mx-command.ts');
    expect(layout.modules.length).toBeGreaterThanOrEqual(20);
    expect(layout.modules.filter((f) => f.endsWith('.test.ts'))).toEqual([]);
    expect(layout.edges.length).toBeGreaterThan(30);
    expect(layout.missing).toEqual([]);
  });

  it('keeps no module at the top of src but cli.ts', () => {
    expect(layout.modules.filter((f) => !f.includes('/'))).toEqual(['cli.ts']);
  });

  it('has no import cycles', () => {
    expect(layout.cycles).toEqual([]);
  });

  it('commands import the core, never the other way round', () => {
    expect(layout.commandImports).toEqual([]);
  });

  it('has no cycles between layers (top-level directories) either', () => {
    expect(layout.layerCycles).toEqual([]);
  });
});
