import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listCommand, MOVE_SCRIPT, OPEN_SCRIPT } from './sources.js';

/** The remote commands as a name server with only busybox runs them: a PATH holding nothing but busybox applets. */
const hasBusybox = spawnSync('busybox', ['true']).status === 0;
let dir: string;
let bb: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-bb-'));
  bb = join(dir, 'bin');
  mkdirSync(bb);
  for (const applet of ['sh', 'find', 'stat', 'sha256sum', 'cat', 'gzip', 'date', 'id', 'mkdir', 'mv', 'sync', 'printf', '[']) {
    symlinkSync('/usr/bin/busybox', join(bb, applet));
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[]) => {
  const [cmd, ...args] = argv;
  return spawnSync(join(bb, cmd ?? ''), args, { env: { PATH: bb } });
};

describe.runIf(hasBusybox)('remote commands under busybox (no GNU find -printf, no sha256sum -z)', () => {
  it('lists a symlinked log directory, opens, hashes and streams one file, refuses a link, and moves', () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    mkdirSync(join(logs, 'old'));
    writeFileSync(join(logs, 'query.log.1'), 'line one\n');
    utimesSync(join(logs, 'query.log.1'), 1_000_000, 1_000_000);
    symlinkSync('/etc/passwd', join(logs, 'query.log.9'));
    symlinkSync(logs, join(dir, 'link'));

    const list = run(listCommand(join(dir, 'link')));
    expect(list.status).toBe(0);
    expect(list.stdout.toString().split('\0').filter(Boolean).sort()).toEqual([join(dir, 'link', 'query.log.1'), join(dir, 'link', 'query.log.9')]);

    const open = run(['sh', '-c', OPEN_SCRIPT, 'sh', join(dir, 'link', 'query.log.1'), '', '60', '0']);
    expect(open.stderr.toString()).toBe('');
    const out = open.stdout.toString();
    const sha = createHash('sha256').update('line one\n').digest('hex');
    expect(out).toMatch(new RegExp(`^OK ${sha} 9 1000000 \\d+ \\d+\\nline one\\n$`));
    const id = /^OK \S+ \d+ \d+ (\d+ \d+)\n/.exec(out)?.[1] ?? '';

    expect(run(['sh', '-c', OPEN_SCRIPT, 'sh', join(logs, 'query.log.9'), '', '0', '0']).stdout.toString()).toBe('REFUSED a symbolic link (not followed)\n');
    expect(run(['sh', '-c', OPEN_SCRIPT, 'sh', join(logs, 'query.log.1'), '65534', '0', '0']).stdout.toString()).toMatch(/^REFUSED owned by uid \d+, not 65534\n$/);

    const move = run(['sh', '-c', MOVE_SCRIPT, 'sh', join(logs, 'query.log.1'), join(logs, 'old'), id]);
    expect(move.stderr.toString()).toBe('');
    expect(move.stdout.toString()).toBe(join(logs, 'old', 'query.log.1'));
    expect(readdirSync(join(logs, 'old'))).toEqual(['query.log.1']);
  });

  it('refuses to move through a symlinked old/', () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(logs, 'old'));
    writeFileSync(join(logs, 'query.log.1'), 'x\n');
    const id = run(['stat', '-c', '%i %d', join(logs, 'query.log.1')]).stdout.toString().trim();
    const move = run(['sh', '-c', MOVE_SCRIPT, 'sh', join(logs, 'query.log.1'), join(logs, 'old'), id]);
    expect(move.status).toBe(3);
    expect(move.stderr.toString()).toBe(`${join(logs, 'old')} is a symbolic link; refusing to move files through it\n`);
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });
});
