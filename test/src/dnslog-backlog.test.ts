/**
 * A backlog over SSH from the real sshd: 10,000 rotated files ship with a few remote commands (no
 * name on any command line, so no ARG_MAX), every line once, every file moved; and the same remote
 * commands work where the only tools are busybox applets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool, type ToolRun } from './run-tool.js';
import { services } from './services-env.js';

const svc = services();
const dnslog = (args: string[]): Promise<ToolRun> => runTool('dnslog', args, { timeoutMs: 180_000 });
const line = (i: number) =>
  `25-Nov-2026 09:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.348 queries: info: client @0x7f3729afc098 127.0.0.1#5482${i % 10} (b${i}.example): query: b${i}.example IN A +E(0)K (127.0.0.1)`;

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dnslog-backlog-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `n` rotated files of two lines each, an hour old. */
function backlog(dir: string, n: number): void {
  mkdirSync(dir);
  const old = Date.now() / 1000 - 3600;
  for (let i = 0; i < n; i++) {
    const file = join(dir, `query.log.${i}`);
    writeFileSync(file, `${line(2 * i)}\n${line(2 * i + 1)}\n`);
    utimesSync(file, old, old);
  }
}

function queryCounts(dbPath: string): { rows: number; names: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) AS rows, COUNT(DISTINCT qname) AS names FROM dns_queries').get() as { rows: number; names: number };
  } finally {
    db.close();
  }
}

describe('a backlog of 10,000 rotated files over SSH', () => {
  it('ships every line once and moves every file, in a few remote commands', async () => {
    const n = 10_000;
    const dir = join(work, 'backlog');
    backlog(dir, n);
    const dbPath = join(work, 'backlog.sqlite');
    const url = `ssh://${svc.sshd.user}@${svc.sshd.host}:${svc.sshd.port}${dir}/query.log.*`;
    const started = performance.now();
    const r = await dnslog([
      'ship',
      url,
      '--db',
      `sqlite:${dbPath}`,
      '--ssh-key',
      svc.sshd.privateKey,
      '--known-hosts',
      svc.sshd.knownHosts,
    ]);
    const seconds = (performance.now() - started) / 1000;
    console.log(`dnslog ship: ${n} files over SSH in ${seconds.toFixed(1)} s`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^shipped ${n} file\\(s\\): ${2 * n} rows, 0 rejected`, 'm'));
    expect(queryCounts(dbPath)).toEqual({ rows: 2 * n, names: 2 * n });
    expect(readdirSync(dir)).toEqual(['old']);
    expect(readdirSync(join(dir, 'old')).length).toBe(n);
  }, 180_000);
});

/** A free loopback port: bound, read back, closed. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The remote side as a busybox-only name server sees it. The services' sshd cannot be told to
 * give one session another PATH (PermitUserEnvironment is off, and rightly so), so this starts a
 * second real sshd with the same host key and authorized keys whose config says
 * `SetEnv PATH=<a directory of busybox applets>`. The remote user's shell start-up may add
 * directories in front (root's .bashrc does here); the test checks every tool the commands use
 * still resolves to busybox.
 */
describe('the remote commands with nothing but busybox on the PATH', () => {
  const tools = [
    'sh',
    'find',
    'stat',
    'sha256sum',
    'xargs',
    'head',
    'gzip',
    'date',
    'id',
    'mkdir',
    'mv',
    'sync',
    'pwd',
    'cat',
    'printf',
    '[',
  ];
  let sshd: ChildProcess | null = null;
  let port = 0;
  let bb = '';
  const hasBusybox = spawnSync('busybox', ['true']).status === 0;

  beforeAll(async () => {
    if (!hasBusybox) return;
    const sshdDir = dirname(svc.sshd.privateKey);
    const home = join(work, 'busybox-sshd');
    bb = join(home, 'bin');
    mkdirSync(bb, { recursive: true });
    for (const tool of tools) symlinkSync('/usr/bin/busybox', join(bb, tool));
    port = await freePort();
    const config = join(home, 'sshd_config');
    writeFileSync(
      config,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${join(sshdDir, 'ssh_host_ed25519_key')}`,
        `PidFile ${join(home, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(sshdDir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'UseDNS no',
        `SetEnv PATH=${bb}`,
        '',
      ].join('\n'),
    );
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: 'ignore' });
    // Bounded wait for the banner.
    for (let i = 0; ; i++) {
      const isUp = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('data', (d) => {
          socket.destroy();
          resolve(d.toString().startsWith('SSH-2.0-'));
        });
        socket.once('error', () => resolve(false));
      });
      if (isUp) break;
      if (i > 50) throw new Error(`the busybox sshd on 127.0.0.1:${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 30_000);

  afterAll(() => {
    sshd?.kill('SIGTERM');
  });

  it.runIf(hasBusybox)('ships through a symlinked log directory, refuses a link, defers a young file, moves the rest', async () => {
    // Shell built-ins (pwd, printf, [) aside, each tool resolves to busybox.
    const external = tools.filter((t) => !['pwd', 'printf', '['].includes(t));
    // The same host key, known under this port.
    const knownHosts = join(work, 'busybox-known-hosts');
    writeFileSync(
      knownHosts,
      `[127.0.0.1]:${port} ${readFileSync(join(dirname(svc.sshd.privateKey), 'ssh_host_ed25519_key.pub'), 'utf8')}`,
    );
    const ssh = spawnSync(
      'ssh',
      [
        '-i',
        svc.sshd.privateKey,
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-p',
        String(port),
        `${svc.sshd.user}@127.0.0.1`,
        `command -v ${external.join(' ')}`,
      ],
      { encoding: 'utf8' },
    );
    expect(ssh.stdout.trim().split('\n')).toEqual(external.map((t) => join(bb, t)));

    const n = 30;
    const real = join(work, 'busybox-logs');
    backlog(real, n);
    symlinkSync('/etc/passwd', join(real, 'query.log.secret.1'));
    writeFileSync(join(real, 'query.log.young.1'), `${line(99_999)}\n`);
    const linked = join(work, 'busybox-link');
    symlinkSync(real, linked);
    const dbPath = join(work, 'busybox.sqlite');
    const url = `ssh://${svc.sshd.user}@127.0.0.1:${port}${linked}/query.log.*`;
    const r = await dnslog([
      'ship',
      url,
      '--db',
      `sqlite:${dbPath}`,
      '--ssh-key',
      svc.sshd.privateKey,
      '--host-key-fingerprint',
      svc.sshd.hostKeyFingerprint,
    ]);
    expect(r.stderr).toBe(`dnslog: 127.0.0.1:${join(linked, 'query.log.secret.1')}: refused: a symbolic link (not followed)\n`);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^deferred 127\.0\.0\.1:.*query\.log\.young\.1 {2}modified \d+s ago \(under --min-age\)/m);
    expect(queryCounts(dbPath)).toEqual({ rows: 2 * n, names: 2 * n });
    expect(readdirSync(real).sort()).toEqual(['old', 'query.log.secret.1', 'query.log.young.1']);
    expect(readdirSync(join(real, 'old')).length).toBe(n);
  });
});
