import { describe, expect, it } from 'vitest';
import { createMemoryIo, runCli } from '@toolbox/shared';
import { buildProgram } from './cli.js';

async function run(...args: string[]) {
  const io = createMemoryIo();
  const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

describe('dnslog cli', () => {
  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run('--help');
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: dnslog [options]');
    expect(r.out.replace(/\s+/g, ' ')).toContain('Ship BIND (named) query logs into SQLite or MySQL/MariaDB and report on them.');
    expect(r.out).toMatch(/Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error/);
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run('--no-such-option');
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("dnslog: unknown option '--no-such-option'");
  });
});
