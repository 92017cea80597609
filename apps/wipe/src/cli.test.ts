import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram, splitPatternTokens } from './cli.js';
import type { WipeReport } from './report/report.js';

async function run(args: string[], opts: { stdin?: string; signal?: AbortSignal } = {}) {
  const io = createMemoryIo({ USER: 'tester' });
  const stdin = new PassThrough();
  stdin.end(opts.stdin ?? '');
  const exit = await runCli('wipe', (i) => buildProgram(i, { stdin, signal: opts.signal }), ['node', 'wipe', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wipe-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function target(size = 100_003, fill = 0xee): string {
  const f = path.join(dir, 'disk.img');
  writeFileSync(f, Buffer.alloc(size, fill));
  return f;
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { event: string; report: WipeReport };

describe('wipe cli', () => {
  it('a report that cannot be written stops the wipe before its first byte: one line, exit 2', async () => {
    const f = target();
    const report = path.join(dir, 'no-such-dir', 'r.json');
    const r = await run(['--yes', '--report', report, f]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: cannot write the report ${report}: ENOENT no such file or directory; nothing written\n`);
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });

  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: wipe [options] [target...]');
    expect(r.out.replace(/\s+/g, ' ')).toContain(
      'Overwrite block devices or files with bit patterns (default 0x55 then 0xAA), then verify.',
    );
    expect(r.out).toMatch(/Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error\n {2}130 interrupted/);
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run(['--no-such-option']);
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("wipe: unknown option '--no-such-option'");
  });

  it('lists every method with its passes', async () => {
    const r = await run(['--list-methods']);
    expect(r.exit).toBe(0);
    expect(r.out).toContain('gutmann    Gutmann 35 passes');
    expect(r.out).toContain('  pass 35  random (AES-256-CTR)');
    expect(r.out).toContain(
      'pattern    alternating bits, then their complement (the default) (verify: last)\n  pass  1  0x55\n  pass  2  0xAA\n',
    );
  });

  it('gives the targets swallowed by a variadic --pattern back', () => {
    expect(splitPatternTokens(['0x92', '0x49', '0x24', '/dev/loop3', './x'])).toEqual({
      pattern: ['0x92', '0x49', '0x24'],
      targets: ['/dev/loop3', './x'],
    });
  });

  it('refuses a pattern that is not hex, and an empty one, before touching anything', async () => {
    const f = target();
    let r = await run(['--yes', '--pattern', '0xZZ', f]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe('wipe: pattern \'0xZZ\' is not hex (write bytes as 0x55, 0x924924 or "0x92 0x49 0x24")\n');
    r = await run(['--yes', '--pattern', '', f]);
    expect(r.err).toBe('wipe: empty pattern (give at least one hex byte, e.g. --pattern 0x55)\n');
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });

  it('writes a multi-byte pattern given as separate words to every byte of a file', async () => {
    const f = target(100_003);
    const r = await run(['--yes', '--pattern', '0x92', '0x49', '0x24', f]);
    expect(r.err).toBe('');
    expect(r.exit).toBe(0);
    const got = readFileSync(f);
    expect(got.length).toBe(100_003);
    expect(got.every((b, i) => b === [0x92, 0x49, 0x24][i % 3])).toBe(true);
    expect(r.out).toContain('verified  passed');
    expect(r.out).toContain('outcome   wiped');
  });

  it('--dry-run shows the target and the plan and writes nothing', async () => {
    const f = target();
    const r = await run(['--dry-run', '--method', 'dod', f]);
    expect(r.exit).toBe(0);
    expect(r.out).toContain(`${f}: regular file, 100003 bytes`);
    expect(r.out).toContain('    pass 3: random (AES-256-CTR), then verify');
    expect(r.out).toContain('would write 300009 bytes and read back 300009');
    expect(r.out).toContain('dry run: nothing written');
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });

  it('asks for the name to be typed back and writes nothing on a wrong answer', async () => {
    const f = target();
    const r = await run([f], { stdin: 'yes\n' });
    expect(r.exit).toBe(2);
    expect(r.err).toContain("Type 'disk.img' to destroy all data on ");
    expect(r.err).toContain('wipe: ' + f + ": not confirmed (typed 'yes', expected 'disk.img'); nothing written\n");
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
    const none = await run([f], { stdin: '' });
    expect(none.err).toContain("not confirmed (typed nothing, expected 'disk.img')");
  });

  it('reads one piped answer per target', async () => {
    const a = path.join(dir, 'a.img');
    const b = path.join(dir, 'b.img');
    writeFileSync(a, Buffer.alloc(5000, 1));
    writeFileSync(b, Buffer.alloc(5000, 2));
    const r = await run(['--method', 'zero', a, b], { stdin: 'a.img\nb.img\n' });
    expect(r.exit).toBe(0);
    expect(readFileSync(a).every((x) => x === 0) && readFileSync(b).every((x) => x === 0)).toBe(true);
  });

  it('Ctrl-C at the question exits 130 and writes nothing', async () => {
    const f = target();
    const ac = new AbortController();
    const stdin = new PassThrough(); // never answers
    const io = createMemoryIo();
    setTimeout(() => ac.abort(), 50);
    const exit = await runCli('wipe', (i) => buildProgram(i, { stdin, signal: ac.signal }), ['node', 'wipe', f], io);
    expect(exit).toBe(130);
    expect(io.err()).toContain('wipe: interrupted at the question; nothing written\n');
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });

  it('wipes after the right answer; the file holds exactly the last pass', async () => {
    const f = target();
    const r = await run([f], { stdin: 'disk.img\n' });
    expect(r.exit).toBe(0);
    expect(readFileSync(f).every((b) => b === 0xaa)).toBe(true);
  });

  it('--json ends with the report: every pass, the verification and the certificate fields', async () => {
    const f = target(65_537);
    const reportFile = path.join(dir, 'cert.json');
    const r = await run(['--yes', '--json', '--method', 'dod', '--zero-last', '--report', reportFile, f]);
    expect(r.exit).toBe(0);
    const { event, report } = lastJson(r.out);
    expect(event).toBe('report');
    expect(report).toMatchObject({ tool: 'wipe', standard: 'NIST SP 800-88 Rev. 1', operator: 'tester', version: '0.1.0' });
    const t = report.targets[0];
    expect(t).toMatchObject({
      target: f,
      sizeBytes: 65_537,
      method: 'dod+zero-last',
      outcome: 'wiped',
      verification: 'passed',
      sanitization: 'Clear',
    });
    expect(t?.passes.map((p) => [p.pattern, p.status, p.bytesWritten, p.verify?.result ?? null])).toEqual([
      ['0x00', 'done', 65_537, 'match'],
      ['0xFF', 'done', 65_537, 'match'],
      ['random', 'done', 65_537, 'match'],
      ['0x00', 'done', 65_537, 'match'],
    ]);
    expect(JSON.parse(readFileSync(reportFile, 'utf8'))).toEqual(report);
    expect(readFileSync(f).every((b) => b === 0)).toBe(true);
  });

  it('stops when interrupted (exit 130), and --resume finishes from the report', async () => {
    const f = target(200_000);
    const reportFile = path.join(dir, 'cert.json');
    const ac = new AbortController();
    ac.abort();
    const r = await run(['--yes', '--report', reportFile, f], { signal: ac.signal });
    expect(r.exit).toBe(130);
    expect(r.err).toContain(`wipe: ${f}: interrupted; continue with --resume ${reportFile}`);
    const saved = JSON.parse(readFileSync(reportFile, 'utf8')) as WipeReport;
    expect(saved.targets[0]).toMatchObject({ outcome: 'interrupted', error: 'interrupted in pass 1 at byte 0 of 200000' });
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);

    const again = await run(['--yes', '--resume', reportFile]);
    expect(again.err).toBe('');
    expect(again.exit).toBe(0);
    expect(readFileSync(f).every((b) => b === 0xaa)).toBe(true);
    const done = JSON.parse(readFileSync(reportFile, 'utf8')) as WipeReport;
    expect(done.targets[0]?.outcome).toBe('wiped');
    expect(done.startedAt).toBe(saved.startedAt);

    const twice = await run(['--yes', '--resume', reportFile]);
    expect(twice.exit).toBe(2);
    expect(twice.err).toBe(`wipe: ${reportFile}: the report says every wipe in it is complete; nothing to resume\n`);
  });

  it('--remove truncates, renames and unlinks a wiped file', async () => {
    const f = target();
    const r = await run(['--yes', '--remove', f]);
    expect(r.exit).toBe(0);
    expect(existsSync(f)).toBe(false);
    expect(r.out).toContain('(file removed)');
  });

  it('refuses directories, missing paths and symlinks to files, showing the resolved path', async () => {
    const f = target();
    const link = path.join(dir, 'link');
    symlinkSync(f, link);
    expect((await run(['--yes', dir])).err).toBe(
      `wipe: ${dir} is a directory; wipe overwrites a block device or a regular file (nothing written)\n`,
    );
    expect((await run(['--yes', path.join(dir, 'nope')])).err).toBe(
      `wipe: ${path.join(dir, 'nope')}: no such file or device (nothing written)\n`,
    );
    const r = await run(['--yes', link]);
    expect(r.exit).toBe(2);
    expect(r.err).toBe(`wipe: ${link} is a symlink to ${f}; give the resolved path if that is really what you mean (nothing written)\n`);
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });

  it('wipes several targets in parallel, one report entry and JSON progress per target and pass', async () => {
    const a = path.join(dir, 'a.img');
    const b = path.join(dir, 'b.img');
    writeFileSync(a, Buffer.alloc(10_000, 1));
    writeFileSync(b, Buffer.alloc(20_001, 2));
    const r = await run(['--yes', '--json', '--method', 'one', a, b]);
    expect(r.exit).toBe(0);
    const events = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; label?: string; report?: WipeReport });
    expect(
      events
        .filter((e) => e.event === 'done')
        .map((e) => e.label)
        .sort(),
    ).toEqual(['a.img pass 1/1 0xFF', 'a.img verify 1/1', 'b.img pass 1/1 0xFF', 'b.img verify 1/1']);
    expect(events.at(-1)?.report?.targets.map((t) => [t.target, t.outcome])).toEqual([
      [a, 'wiped'],
      [b, 'wiped'],
    ]);
    expect(readFileSync(a).every((x) => x === 0xff) && readFileSync(b).every((x) => x === 0xff)).toBe(true);
  });

  it('refuses all targets when one is refused', async () => {
    const f = target();
    const r = await run(['--yes', f, path.join(dir, 'nope')]);
    expect(r.exit).toBe(2);
    expect(readFileSync(f).every((b) => b === 0xee)).toBe(true);
  });
});
