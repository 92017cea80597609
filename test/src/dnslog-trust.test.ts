/**
 * dnslog ship's trust boundary against the real services: ship runs as root in directories a
 * non-root user (here `nobody`, standing in for `bind`) owns, who tries to redirect or block it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type mysql from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTool, type ToolRun } from './run-tool.js';
import { connectMariadb, useScratchDatabase } from './scratch-db.js';
import { services } from './services-env.js';

const svc = services();
const scratch = useScratchDatabase('toolbox_dnslog_trust', 'dnslog-trust-');
const { db, url: mysqlUrl } = scratch;
const sshArgs = ['--ssh-user', svc.sshd.user, '--ssh-key', svc.sshd.privateKey, '--known-hosts', svc.sshd.knownHosts];
const NOBODY = 65534;

const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined } });
const line = (i: number, name: string) =>
  `25-Nov-2026 09:38:${String(i % 60).padStart(2, '0')}.348 queries: info: client @0x7f3729afc098 127.0.0.1#5482${i % 10} (${name}): query: ${name} IN A +E(0)K (127.0.0.1)`;

/** Runs a shell snippet as nobody: the local user who owns the log directory and tries to get in the way. */
function asNobody(script: string, ...args: string[]): void {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', script, 'sh', ...args], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`as nobody: ${script}: ${r.stderr}`);
}

// nobody must reach the directories made in it
beforeAll(() => chmodSync(scratch.work, 0o755));

/** A log directory owned by nobody, with a rotated file nobody wrote. */
function bindDir(name: string): string {
  const dir = join(scratch.work, name);
  mkdirSync(dir);
  chownSync(dir, NOBODY, NOBODY);
  asNobody('printf "%s\\n" "$2" > "$1/query.log.1"', dir, line(1, `${name}.example`));
  return dir;
}

describe('the ship lock on MariaDB is GET_LOCK on the server', () => {
  it('a lock file nobody made in /tmp with PID 1 blocks nothing; a GET_LOCK held by another host stops ship with one line', async () => {
    const dir = bindDir('lock');
    // The old default lock: a predictable name in /tmp that any local user could create first.
    const oldKey = createHash('sha256').update(`${svc.mariadb.host}:${svc.mariadb.port}/${db}`).digest('hex').slice(0, 16);
    const oldLock = join(tmpdir(), `dnslog-ship-${oldKey}.lock`);
    asNobody('echo 1 > "$1"', oldLock);
    try {
      const other = await connectMariadb();
      try {
        const [got] = await other.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS got, CONNECTION_ID() AS id', [
          `dnslog.ship:${db}`,
        ]);
        expect(got[0]?.got).toBe(1);
        const held = await dnslog(['ship', dir, '--db', mysqlUrl, '--min-age', '0']);
        expect(held.code).toBe(2);
        expect(held.stderr).toMatch(
          new RegExp(
            `^dnslog: lock dnslog\\.ship:${db} on mysql://.* is held by connection ${String(got[0]?.id)} from [^ ]+ \\(another dnslog ship, prune or partitions run\\); wait for it to finish\\n$`,
          ),
        );
        expect(existsSync(join(dir, 'query.log.1'))).toBe(true);
        // With --lock-wait, ship waits for the holder (here: it lets go after 2 s) and then ships.
        const waiting = dnslog(['ship', dir, '--db', mysqlUrl, '--min-age', '0', '--lock-wait', '30s']);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        expect(existsSync(join(dir, 'query.log.1'))).toBe(true);
        await other.query('SELECT RELEASE_LOCK(?)', [`dnslog.ship:${db}`]);
        const r = await waiting;
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(readdirSync(join(dir, 'old'))).toEqual(['query.log.1']);
      } finally {
        await other.end();
      }
    } finally {
      rmSync(oldLock, { force: true });
    }
  });
});

describe('a non-root owner of the log directory tries to redirect a root ship', () => {
  it('local: a symlink to a root-only file is refused by name and old/ -> elsewhere is not followed', async () => {
    const dir = bindDir('local');
    const secret = join(scratch.work, 'shadow');
    writeFileSync(secret, 'root:$6$secret-hash:19000:0:99999:7:::\n', { mode: 0o600 });
    const elsewhere = join(scratch.work, 'elsewhere');
    mkdirSync(elsewhere);
    asNobody('ln -s "$2" "$1/query.log.9" && ln -s "$3" "$1/old" && mkfifo "$1/query.log.8"', dir, secret, elsewhere);
    const dbPath = join(scratch.work, 'local.sqlite');
    const r = await dnslog(['ship', join(dir, 'query.log.*'), '--db', `sqlite:${dbPath}`, '--server', 'ns1', '--min-age', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean).sort()).toEqual([
      `dnslog: ns1:${join(dir, 'query.log.1')}: loaded (1 rows) but not moved: ${join(dir, 'old')} is a symbolic link; refusing to move files through it`,
      `dnslog: ns1:${join(dir, 'query.log.8')}: refused: a FIFO`,
      `dnslog: ns1:${join(dir, 'query.log.9')}: refused: a symbolic link (not followed)`,
    ]);
    expect(r.stdout).toMatch(/^loaded {3}ns1:.*query\.log\.1 {2}1 rows, 0 rejected, .* NOT MOVED: /m);
    const sqlite = new Database(dbPath, { readonly: true });
    try {
      expect(sqlite.prepare('SELECT COUNT(*) FROM dnslog_rejects').pluck().get()).toBe(0);
      expect(sqlite.prepare('SELECT qname FROM dns_queries').pluck().all()).toEqual(['local.example']);
    } finally {
      sqlite.close();
    }
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('over SSH: the same, through a symlinked log directory, and a young file is left for the next run', async () => {
    const dir = bindDir('remote');
    const linked = join(scratch.work, 'remote-link');
    symlinkSync(dir, linked);
    const secret = join(scratch.work, 'shadow2');
    writeFileSync(secret, 'root:$6$secret-hash:19000:0:99999:7:::\n', { mode: 0o600 });
    const elsewhere = join(scratch.work, 'elsewhere2');
    mkdirSync(elsewhere);
    asNobody('ln -s "$2" "$1/query.log.9" && ln -s "$3" "$1/old"', dir, secret, elsewhere);
    const url = `ssh://${svc.sshd.user}@${svc.sshd.host}:${svc.sshd.port}${linked}/query.log.*`;
    const dbPath = join(scratch.work, 'remote.sqlite');
    const young = await dnslog(['ship', url, '--db', `sqlite:${dbPath}`, '--min-age', '1h', ...sshArgs]);
    expect(young.stdout).toMatch(
      /^deferred .*query\.log\.1 {2}modified \d+s ago \(under --min-age\): named may still be writing it; left for the next run$/m,
    );
    expect(young.stderr).toBe(`dnslog: ${svc.sshd.host}:${join(linked, 'query.log.9')}: refused: a symbolic link (not followed)\n`);

    const r = await dnslog(['ship', url, '--db', `sqlite:${dbPath}`, '--min-age', '0', ...sshArgs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`: refused: a symbolic link (not followed)\n`);
    expect(r.stderr).toMatch(/: loaded \(1 rows\) but not moved: .* is a symbolic link; refusing to move files through it/);
    const sqlite = new Database(dbPath, { readonly: true });
    try {
      expect(sqlite.prepare('SELECT COUNT(*) FROM dnslog_rejects').pluck().get()).toBe(0);
      expect(sqlite.prepare('SELECT qname FROM dns_queries').pluck().all()).toEqual(['remote.example']);
    } finally {
      sqlite.close();
    }
    expect(readdirSync(elsewhere)).toEqual([]);

    // old/ made a real directory again: the next run skips the file (already shipped) and moves it.
    rmSync(join(dir, 'old'));
    const again = await dnslog(['ship', url, '--db', `sqlite:${dbPath}`, '--min-age', '0', ...sshArgs]);
    expect(again.stdout).toMatch(/^skipped .*query\.log\.1 {2}already shipped {2}-> .*\/old\/query\.log\.1$/m);
    expect(readdirSync(join(dir, 'old'))).toEqual(['query.log.1']);
  });
});
