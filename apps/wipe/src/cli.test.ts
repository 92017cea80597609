import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { buildProgram } from './cli.js';

async function run(...args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  let code = 0;
  const io = { stdout, stderr, env: {}, setExitCode: (c: number) => void (code = Math.max(code, c)), exitCode: () => code };
  const exit = await runCli('wipe', buildProgram, ['node', 'wipe', ...args], io);
  return { exit, out, err };
}

describe('wipe cli', () => {
  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run('--help');
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: wipe [options]');
    expect(r.out.replace(/\s+/g, ' ')).toContain('Overwrite block devices or files with bit patterns (default 0x55 then 0xAA), then verify.');
    expect(r.out).toMatch(/Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error/);
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run('--no-such-option');
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("wipe: unknown option '--no-such-option'");
  });
});
