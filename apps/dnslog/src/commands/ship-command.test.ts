import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { localLockPath } from '../ship/ship-lock.js';
import { progressBars } from './ship-command.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-shipcmd-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = createMemoryIo(env);
  const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

const LINE =
  '25-Nov-2026 09:38:30.348 queries: info: client @0x7f3729afc098 127.0.0.1#54825 (example.test): query: example.test IN MX +E(0)K (127.0.0.1)';

describe('dnslog ship (command)', () => {
  it('exits 1 and says so when lines were rejected, 0 on a clean re-run', async () => {
    writeFileSync(join(dir, 'query.log.1'), `${LINE}\nnot a query line\n`);
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const r = await run(['ship', join(dir, 'query.log.1'), '--db', db, '--server', 'ns1', '--keep', '--min-age', '0']);
    expect(r.exit).toBe(1);
    expect(r.out).toMatch(/^loaded {3}ns1:.*query\.log\.1 {2}1 rows, 1 rejected/m);
    expect(r.out).toMatch(/^shipped 1 file\(s\): 1 rows, 1 rejected line\(s\)/m);
    const again = await run(['ship', join(dir, 'query.log.1'), '--db', db, '--server', 'ns1', '--json', '--min-age', '0']);
    expect(again.exit).toBe(0);
    const report = JSON.parse(again.out) as { files: { status: string; movedTo: string }[] };
    expect(report.files.map((f) => f.status)).toEqual(['skipped']);
    expect(report.files[0]?.movedTo).toBe(join(dir, 'old', 'query.log.1'));
  });

  it('refuses to run while another ship holds the lock, naming its PID', async () => {
    writeFileSync(join(dir, 'query.log.1'), `${LINE}\n`);
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const holder = spawn('sleep', ['30']);
    try {
      const lockPath = localLockPath(db, { waitMs: 0, env: {} }) ?? '';
      expect(lockPath).toMatch(/^\/run\/dnslog\/ship-db\.sqlite-[0-9a-f]{16}\.lock$/);
      writeFileSync(lockPath, `${holder.pid}\n`);
      const r = await run(['ship', join(dir, 'query.log.1'), '--db', db]);
      rmSync(lockPath, { force: true });
      expect(r.exit).toBe(2);
      expect(r.err).toBe(
        `dnslog: lock ${lockPath} is held by running process ${holder.pid}; wait for it to finish, or stop PID ${holder.pid}\n`,
      );
      expect(existsSync(join(dir, 'query.log.1'))).toBe(true);
      expect(existsSync(join(dir, 'db.sqlite'))).toBe(false); // the lock comes before anything is opened
    } finally {
      holder.kill();
    }
  });

  describe('a database that refuses the connection', () => {
    let server: Server;
    let port: number;
    beforeEach(async () => {
      // a port that accepts and at once closes: no MySQL handshake ever comes
      server = createServer((s) => s.destroy());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as { port: number }).port;
    });
    afterEach(() => new Promise<void>((r) => server.close(() => r())));

    it('gives one line, exit 2, and moves nothing', async () => {
      writeFileSync(join(dir, 'query.log.1'), `${LINE}\n`);
      const r = await run(['ship', join(dir, 'query.log.1'), '--db', `mysql://dnslog@127.0.0.1:${port}/dnslog`, '--lock', join(dir, 'l')], {
        DNSLOG_DB_PASSWORD: 'x',
      });
      expect(r.exit).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(new RegExp(`^dnslog: cannot connect to mysql://dnslog@127\\.0\\.0\\.1:${port}/dnslog: `));
      expect(existsSync(join(dir, 'query.log.1'))).toBe(true);
    });
  });

  it('a young file is left for the next run with a line saying so, exit 0; a symlink is refused by name, exit 2', async () => {
    writeFileSync(join(dir, 'query.log.1'), `${LINE}\n`);
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const r = await run(['ship', join(dir, 'query.log.1'), '--db', db, '--server', 'ns1']);
    expect(r.out).toMatch(
      /^deferred ns1:.*query\.log\.1 {2}modified \d+s ago \(under --min-age\): named may still be writing it; left for the next run$/m,
    );
    expect(r.out).toMatch(/, 1 left for the next run$/m);
    expect(r.exit).toBe(0);
    expect(existsSync(join(dir, 'query.log.1'))).toBe(true);

    const { symlinkSync } = await import('node:fs');
    writeFileSync(join(dir, 'secret'), 'root:$6$hash:19000:0:99999:7:::\n');
    symlinkSync(join(dir, 'secret'), join(dir, 'query.log.9'));
    const r2 = await run(['ship', join(dir, 'query.log.*'), '--db', db, '--server', 'ns1', '--min-age', '0']);
    expect(r2.err).toBe(`dnslog: ns1:${join(dir, 'query.log.9')}: refused: a symbolic link (not followed)\n`);
    expect(r2.out).toMatch(/^loaded {3}ns1:.*query\.log\.1 {2}1 rows/m);
    expect(r2.exit).toBe(2);
  });

  it('keys progress bars by server and path: two servers with the same file each get their own', () => {
    const io = createMemoryIo({}, { isTTY: true });
    const bars = progressBars(io.stderr);
    bars.add({ server: 'ns1', path: '/var/log/named/query.log.1', size: 100 }, 10);
    bars.add({ server: 'ns2', path: '/var/log/named/query.log.1', size: 200 }, 10);
    expect(bars.open.size).toBe(2);
    bars.finish({ server: 'ns1', path: '/var/log/named/query.log.1' });
    expect([...bars.open.keys()]).toEqual(['ns2\0/var/log/named/query.log.1']);
  });

  it('refuses a password on the command line', async () => {
    const r = await run(['ship', dir, '--db', 'mysql://u:secret@127.0.0.1/db']);
    expect(r.exit).toBe(2);
    expect(r.err).not.toContain('secret');
  });

  // --ssh-user used to default to root when $USER was unset (cron, systemd units)
  it.each([
    [['ship', 'ssh://ns1/var/log/named/query.log.*', '--server', 'ns1'], 'ssh://ns1/var/log/named/query.log.*'],
    [['rotate', '--host', 'ssh://ns1', '--log', '/var/log/named/query.log'], 'ssh://ns1'],
  ])('%j without a user, --ssh-user or $USER is one line, exit 2', async (args, url) => {
    const r = await run([...args, ...(args[0] === 'ship' ? ['--db', `sqlite:${join(dir, 'db.sqlite')}`] : [])]);
    expect(r.err).toBe(`dnslog: ${url}: no user to log in as ($USER is not set); give --ssh-user or name it in the URL, ssh://user@host\n`);
    expect(r.exit).toBe(2);
  });
});
