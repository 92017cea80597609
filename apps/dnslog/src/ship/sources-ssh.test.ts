/**
 * Remote sources against an in-process ssh2 server that runs each command with /bin/sh -c on this
 * machine, recording the command lines: a backlog costs the same few commands, whatever its size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import ssh2 from 'ssh2';
import type { Connection } from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostKeyFingerprint } from '@toolbox/shared';
import { sshKeyPair } from '@toolbox/shared/testing';
import { SqliteStore } from '../store/sqlite/db-sqlite.js';
import { lineParserFor } from '../parse/parse-adapter.js';
import { ship } from './ship.js';
import { MOVE_BATCH_SCRIPT, sshSource } from './sources.js';

interface FakeSshd {
  port: number;
  fingerprint: string;
  commands: string[];
  /** Environment of the commands the peer runs (its `TZ`, say). */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function startSshd(): Promise<FakeSshd> {
  const hostKey = sshKeyPair();
  const clients = new Set<Connection>();
  const children = new Set<ChildProcess>();
  const commands: string[] = [];
  const env: Record<string, string> = {};
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    clients.add(client);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    // A test peer: any key will do; host key checking is what the client side must get right.
    client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        acceptSession().on('exec', (accept, _reject, info) => {
          commands.push(info.command);
          const channel = accept();
          const child = spawn('/bin/sh', ['-c', info.command], { env: { ...process.env, ...env } });
          children.add(child);
          channel.pipe(child.stdin);
          child.stdin.on('error', () => {});
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr);
          child.on('close', (code) => {
            children.delete(child);
            channel.exit(code ?? 255);
            channel.end();
          });
          channel.on('close', () => child.kill('SIGKILL'));
        });
      });
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
  const [, base64] = hostKey.public.split(' ');
  return {
    port,
    fingerprint: hostKeyFingerprint(Buffer.from(base64 ?? '', 'base64')),
    commands,
    env,
    close: () =>
      new Promise((resolve) => {
        for (const child of children) child.kill('SIGKILL');
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}

const line = (i: number) =>
  `25-Nov-2026 09:38:${String(i % 60).padStart(2, '0')}.348 queries: info: client @0x7f3729afc098 127.0.0.1#5482${i % 10} (h${i}.example): query: h${i}.example IN A +E(0)K (127.0.0.1)`;

let dir: string;
let sshd: FakeSshd;
let keyPath: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-ssh-'));
  sshd = await startSshd();
  keyPath = join(dir, 'id');
  writeFileSync(keyPath, sshKeyPair().private, { mode: 0o600 });
});
afterEach(async () => {
  await sshd.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Ships `n` rotated files (with names that need quoting) over SSH into a new SQLite database. */
async function shipBacklog(n: number, compress: boolean) {
  const logs = join(dir, `logs ${n} ${compress}`);
  mkdirSync(logs);
  for (let i = 0; i < n; i++) {
    const file = join(logs, `query.log.${i}`);
    writeFileSync(file, `${line(i)}\n${line(i + 1)}\n`);
    utimesSync(file, 1_000_000, 1_000_000);
  }
  const store = new SqliteStore(join(dir, `db-${n}-${compress}.sqlite`));
  await store.init();
  sshd.commands.length = 0;
  try {
    const source = sshSource(`ssh://root@127.0.0.1:${sshd.port}${encodeURI(logs)}/query.log.*`, {
      ssh: { privateKeyPath: keyPath, hostKeyFingerprint: sshd.fingerprint },
      defaultUser: 'root',
      compress,
      trust: { minAgeSeconds: 60 },
    });
    const report = await ship(store, [source], lineParserFor, { moveTo: 'old', concurrency: 1, dryRun: false });
    return {
      report,
      logs,
      commands: [...sshd.commands],
      rows: store.db.prepare('SELECT COUNT(*) FROM dns_queries').pluck().get() as number,
    };
  } finally {
    await store.close();
  }
}

describe('a backlog over SSH', () => {
  it.each([false, true])(
    'costs the same remote commands for 3 files or 600, none longer (compress %s)',
    async (compress) => {
      const small = await shipBacklog(3, compress);
      const large = await shipBacklog(600, compress);
      for (const [run, n] of [
        [small, 3],
        [large, 600],
      ] as const) {
        expect(run.report.totals).toMatchObject({ files: n, loaded: n, failed: 0, moveFailed: 0, rows: 2 * n });
        expect(run.rows).toBe(2 * n);
        expect(readdirSync(run.logs)).toEqual(['old']);
        expect(readdirSync(join(run.logs, 'old')).length).toBe(n);
        expect(run.report.files.filter((f) => f.movedTo !== join(run.logs, 'old', basename(f.path)))).toEqual([]);
      }
      // list, the host's zone, open-and-stream: one each; moves in batches (a batch goes out once ship
      // has added nothing for 50 ms, so a loaded machine may send a few more, never one per file);
      // no name of a file on any command line
      const isMove = (c: string) => c.includes(MOVE_BATCH_SCRIPT);
      const lengths = (cmds: string[]) =>
        [...new Set(cmds.map((c) => c.replaceAll(`logs 3 ${compress}`, `logs 600 ${compress}`).length))].sort();
      for (const run of [small, large]) expect(run.commands.filter((c) => !isMove(c)).length).toBe(3);
      expect(small.commands.filter(isMove).length).toBeGreaterThanOrEqual(1);
      expect(small.commands.filter(isMove).length).toBeLessThanOrEqual(3);
      expect(large.commands.filter(isMove).length).toBeGreaterThanOrEqual(1);
      expect(large.commands.filter(isMove).length).toBeLessThanOrEqual(60);
      expect(lengths(large.commands)).toEqual(lengths(small.commands));
      expect(large.commands.some((c) => c.includes('query.log.5'))).toBe(false);
    },
    60_000,
  );
});

describe('the zone of a remote host', () => {
  it("is asked over the connection and used for its lines (the host's TZ), recorded in the ledger; --tz wins", async () => {
    sshd.env.TZ = 'America/New_York';
    const logs = join(dir, 'logs');
    mkdirSync(logs);
    writeFileSync(join(logs, 'query.log.1'), `${line(0)}\n`);
    utimesSync(join(logs, 'query.log.1'), 1_000_000, 1_000_000);
    const store = new SqliteStore(join(dir, 'zone.sqlite'));
    await store.init();
    try {
      const source = (zoneOf?: (server: string) => string | undefined) =>
        sshSource(`ssh://root@127.0.0.1:${sshd.port}${logs}/query.log.*`, {
          ssh: { privateKeyPath: keyPath, hostKeyFingerprint: sshd.fingerprint },
          defaultUser: 'root',
          compress: false,
          trust: { minAgeSeconds: 60 },
          zoneOf,
        });
      const report = await ship(store, [source()], lineParserFor, { moveTo: null, concurrency: 1, dryRun: false });
      expect(report.totals).toMatchObject({ loaded: 1, rows: 1 });
      // 09:38 in New York on 25 November (EST, UTC-5) is 14:38 UTC.
      expect(store.db.prepare('SELECT qtime FROM dns_queries').pluck().all()).toEqual(['2026-11-25 14:38:00.348']);
      expect(store.db.prepare('SELECT tz FROM dnslog_files').pluck().all()).toEqual(['America/New_York']);
      sshd.commands.length = 0;
      // Told the zone, it does not ask.
      const other = new SqliteStore(join(dir, 'zone2.sqlite'));
      await other.init();
      try {
        await ship(other, [source(() => 'Asia/Tokyo')], lineParserFor, { moveTo: null, concurrency: 1, dryRun: false });
        expect(other.db.prepare('SELECT qtime, (SELECT tz FROM dnslog_files) AS tz FROM dns_queries').all()).toEqual([
          { qtime: '2026-11-25 00:38:00.348', tz: 'Asia/Tokyo' },
        ]);
        expect(sshd.commands.some((c) => c.includes('/etc/timezone'))).toBe(false);
      } finally {
        await other.close();
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});
