import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryIo, runCli } from '@toolbox/shared';
import { buildProgram } from './cli.js';
import { defaultLockPath } from './db-url.js';

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

const LINE = '25-Nov-2026 09:38:30.348 queries: info: client @0x7f3729afc098 127.0.0.1#54825 (example.test): query: example.test IN MX +E(0)K (127.0.0.1)';

describe('dnslog ship (command)', () => {
  it('exits 1 and says so when lines were rejected, 0 on a clean re-run', async () => {
    writeFileSync(join(dir, 'query.log.1'), `${LINE}\nnot a query line\n`);
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const r = await run(['ship', join(dir, 'query.log.1'), '--db', db, '--server', 'ns1', '--keep']);
    expect(r.exit).toBe(1);
    expect(r.out).toMatch(/^loaded {3}ns1:.*query\.log\.1 {2}1 rows, 1 rejected/m);
    expect(r.out).toMatch(/^shipped 1 file\(s\): 1 rows, 1 rejected line\(s\)/m);
    const again = await run(['ship', join(dir, 'query.log.1'), '--db', db, '--server', 'ns1', '--json']);
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
      writeFileSync(defaultLockPath(db), `${holder.pid}\n`);
      const r = await run(['ship', join(dir, 'query.log.1'), '--db', db]);
      expect(r.exit).toBe(2);
      expect(r.err).toBe(`dnslog: lock ${defaultLockPath(db)} is held by running process ${holder.pid}; wait for it to finish, or stop PID ${holder.pid}\n`);
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

  it('refuses a password on the command line', async () => {
    const r = await run(['ship', dir, '--db', 'mysql://u:secret@127.0.0.1/db']);
    expect(r.exit).toBe(2);
    expect(r.err).not.toContain('secret');
  });
});
