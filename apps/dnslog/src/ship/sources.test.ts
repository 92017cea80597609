import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { REMOTE_ZONE_SCRIPT, listCommand, moveBatchCommand, nulList, openBatchCommand, zoneFromHost } from './sources.js';

/** The remote commands as a name server with only busybox runs them: a PATH holding nothing but busybox applets. */
const hasBusybox = spawnSync('busybox', ['true']).status === 0;
let dir: string;
let bb: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-bb-'));
  bb = join(dir, 'bin');
  mkdirSync(bb);
  for (const applet of [
    'sh',
    'find',
    'stat',
    'sha256sum',
    'cat',
    'gzip',
    'date',
    'id',
    'mkdir',
    'mv',
    'sync',
    'printf',
    '[',
    'xargs',
    'head',
    'pwd',
  ]) {
    symlinkSync('/usr/bin/busybox', join(bb, applet));
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[], input?: Buffer) => {
  const [cmd, ...args] = argv;
  return spawnSync(join(bb, cmd ?? ''), args, { env: { PATH: bb }, input });
};

/** Splits an open batch's output into frames: name, header, and for OK the bytes. */
function frames(out: Buffer): { name: string; header: string; body: string }[] {
  const result: { name: string; header: string; body: string }[] = [];
  let at = 0;
  while (at < out.length) {
    const nul = out.indexOf(0, at);
    const nl = out.indexOf(10, nul);
    const name = out.subarray(at, nul).toString();
    const header = out.subarray(nul + 1, nl).toString();
    const size = /^OK \S+ (\d+) /.exec(header) ? Number(/^OK \S+ (\d+) /.exec(header)?.[1]) : 0;
    result.push({ name, header, body: out.subarray(nl + 1, nl + 1 + size).toString() });
    at = nl + 1 + size;
  }
  return result;
}

describe.runIf(hasBusybox)('remote commands under busybox (no GNU find -printf, no sha256sum -z)', () => {
  it('lists a symlinked log directory; one batch opens, checks, hashes and streams every file in order; one batch moves them', () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    mkdirSync(join(logs, 'old'));
    const names: string[] = [];
    // More than one group of seven descriptors, a link in the middle, a missing file, a young one.
    for (let i = 0; i < 12; i++) {
      const f = join(logs, `query.log.${i}`);
      writeFileSync(f, `line ${i}\n`.repeat(i));
      utimesSync(f, 1_000_000, 1_000_000);
      names.push(f);
    }
    symlinkSync('/etc/passwd', join(logs, 'query.log.link.1'));
    const young = join(logs, 'query.log.young.1');
    writeFileSync(young, 'new\n');
    symlinkSync(logs, join(dir, 'link'));

    const list = run(listCommand(join(dir, 'link')));
    expect(list.status).toBe(0);
    expect(list.stdout.toString().split('\0').filter(Boolean).length).toBe(14);

    const asked = [...names.slice(0, 5), join(logs, 'query.log.link.1'), join(logs, 'query.log.gone.1'), young, ...names.slice(5)];
    for (const compress of [false, true]) {
      const open = run(openBatchCommand('', 60, compress), nulList(asked));
      expect(open.stderr.toString()).toBe('');
      expect(open.status).toBe(0);
      const got = frames(compress ? gunzipSync(open.stdout) : open.stdout);
      expect(got.map((f) => f.name)).toEqual(asked);
      for (const [i, f] of names.entries()) {
        const frame = got.find((g) => g.name === f);
        const body = `line ${i}\n`.repeat(i);
        const sha = createHash('sha256').update(body).digest('hex');
        expect(frame?.header).toMatch(new RegExp(`^OK ${sha} ${body.length} 1000000 \\d+ \\d+$`));
        expect(frame?.body).toBe(body);
      }
      expect(got[5]?.header).toBe('REFUSED a symbolic link (not followed)');
      expect(got[6]?.header).toBe('ERROR no such file');
      expect(got[7]?.header).toMatch(/^YOUNG \d+$/);
    }
    expect(frames(run(openBatchCommand('65534', 0, false), nulList([names[1] ?? ''])).stdout)[0]?.header).toMatch(
      /^REFUSED owned by uid \d+, not 65534$/,
    );

    const open = frames(run(openBatchCommand('', 0, false), nulList(names)).stdout);
    const ids = open.map((f) => `${/^OK \S+ \d+ \d+ (\d+ \d+)$/.exec(f.header)?.[1] ?? ''} ${f.name}`);
    // query.log.3 is swapped for another file after it was read: it stays where it is.
    // (the original is kept elsewhere, so its inode number cannot be reused for the new file)
    renameSync(names[3] ?? '', join(dir, 'kept'));
    writeFileSync(names[3] ?? '', 'swapped\n');
    const move = run(moveBatchCommand(join(logs, 'old')), nulList(ids));
    expect(move.stderr.toString()).toBe('');
    const answer = move.stdout.toString().split('\0');
    expect(answer.at(-2)).toBe('S');
    expect(answer).toContain(`${names[3] ?? ''} was replaced after it was read; not moved`);
    expect(answer.filter((a) => a === 'M').length).toBe(11);
    expect(answer.slice(0, 3)).toEqual(['M', names[0], join(logs, 'old', 'query.log.0')]);
    expect(readdirSync(join(logs, 'old')).length).toBe(11);
    expect(readdirSync(logs).sort()).toEqual(['old', 'query.log.3', 'query.log.link.1', 'query.log.young.1']);
  });

  it('refuses to move through a symlinked old/', () => {
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(logs, 'old'));
    writeFileSync(join(logs, 'query.log.1'), 'x\n');
    const id = run(['stat', '-c', '%i %d', join(logs, 'query.log.1')])
      .stdout.toString()
      .trim();
    const move = run(moveBatchCommand(join(logs, 'old')), nulList([`${id} ${join(logs, 'query.log.1')}`]));
    expect(move.stderr.toString()).toBe(`${join(logs, 'old')} is a symbolic link; refusing to move files through it\n`);
    expect(move.stdout.toString()).toBe('');
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });
});

/** This host's zone by the same rules, read with fs: /etc/timezone, the /etc/localtime link, else UTC. */
function hostZone(): string | null {
  const named = existsSync('/etc/timezone') ? readFileSync('/etc/timezone', 'utf8').trim() : '';
  if (named !== '') return named;
  if (!existsSync('/etc/localtime')) return 'UTC';
  if (!lstatSync('/etc/localtime').isSymbolicLink()) return null;
  return /zoneinfo\/(.+)$/.exec(readlinkSync('/etc/localtime'))?.[1] ?? null;
}

describe('the zone a remote host writes its logs in', () => {
  it('comes from TZ, then /etc/timezone, then the /etc/localtime link; none of them names it: null', () => {
    expect(zoneFromHost('TZ=:Europe/Berlin\nTIMEZONE=Etc/UTC\nLOCALTIME=1\n')).toBe('Europe/Berlin');
    expect(zoneFromHost('TZ=/usr/share/zoneinfo/Asia/Tokyo\n')).toBe('Asia/Tokyo');
    expect(zoneFromHost('TZ=\nTIMEZONE=America/New_York\nLINK=/usr/share/zoneinfo/Europe/Paris\nLOCALTIME=1\n')).toBe('America/New_York');
    expect(zoneFromHost('TZ=\nLINK=../usr/share/zoneinfo/Europe/Paris\nLOCALTIME=1\n')).toBe('Europe/Paris');
    expect(zoneFromHost('TZ=\nLINK=/usr/share/zoneinfo/posix/Australia/Lord_Howe\nLOCALTIME=1\n')).toBe('Australia/Lord_Howe');
    // No /etc/localtime at all: the C library's UTC.
    expect(zoneFromHost('TZ=\n')).toBe('UTC');
    // A copied /etc/localtime and no /etc/timezone: it cannot be named, so the user must.
    expect(zoneFromHost('TZ=\nLOCALTIME=1\n')).toBeNull();
  });

  it('is asked by a script that runs in sh (and busybox sh) and reads what this host says', () => {
    const shells = hasBusybox ? [['sh'], ['busybox', 'sh']] : [['sh']];
    for (const [cmd, ...pre] of shells) {
      const withTz = spawnSync(cmd ?? 'sh', [...pre, '-c', REMOTE_ZONE_SCRIPT], {
        env: { PATH: process.env.PATH, TZ: 'Asia/Tokyo' },
        encoding: 'utf8',
      });
      expect(zoneFromHost(withTz.stdout)).toBe('Asia/Tokyo');
      const plain = spawnSync(cmd ?? 'sh', [...pre, '-c', REMOTE_ZONE_SCRIPT], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
      expect(zoneFromHost(plain.stdout)).toBe(hostZone());
    }
  });
});
