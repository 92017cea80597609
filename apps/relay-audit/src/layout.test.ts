/**
 * The directory tree is the architecture: `cli.ts` wires `commands/`; the commands call the core —
 * `probe/` (battery plan, SMTP client, vantages, runner), `report/` (outputs of a run), `config/`
 * (the sendmail audit) and `explain/` (a run joined with the audit) — and nothing in the core
 * reaches back up. The shared `checkLayout` reads every module's relative imports and names the
 * cycle or the import that breaks the rule; its own test checks it on a made-up tree.
 */
import { fileURLToPath } from 'node:url';
import { checkLayout } from '@toolbox/shared/testing';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('.', import.meta.url));

describe('the layout of src', () => {
  const layout = checkLayout(SRC);

  it('reads the imports of every module, and each names a module in src', () => {
    expect(layout.modules).toContain('cli.ts');
    expect(layout.modules).toContain('commands/probe-command.ts');
    expect(layout.modules.length).toBeGreaterThan(15);
    expect(layout.modules.filter((f) => f.endsWith('.test.ts'))).toEqual([]);
    expect(layout.edges.length).toBeGreaterThan(20);
    expect(layout.missing).toEqual([]);
  });

  it('keeps every module but cli.ts in a layer directory', () => {
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
