import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { runExplainCommand } from './explain-command.js';
import type { Explanation } from '../explain/explain.js';
import { startScriptedMta } from '../testing/scripted-mta.js';

async function run(...args: string[]) {
  const io = createMemoryIo();
  const sweep = args[0] === 'probe' ? ['--submission-ports', 'none'] : [];
  const exit = await runCli('relay-audit', buildProgram, ['node', 'relay-audit', ...args, ...sweep], io);
  return { exit, out: io.out(), err: io.err() };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The sendmail files of a host whose access map lets only `relayFrom` relay. */
function config(relayFrom: string): { dir: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-audit-explain-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'sendmail.mc'),
    "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nFEATURE(`relay_hosts_only')dnl\nFEATURE(`access_db')dnl\n",
  );
  writeFileSync(join(dir, 'access'), `# who may relay\nConnect:${relayFrom}\tRELAY\n`);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
  return { dir, args: ['--mc', join(dir, 'sendmail.mc'), '--access', join(dir, 'access'), '--hosts', join(dir, 'hosts')] };
}

/** A scripted MTA that relays for everyone (what the running MTA does, whatever the files say). */
async function openMta(): Promise<number> {
  const m = await startScriptedMta(() => null);
  cleanups.push(() => m.close());
  return m.port;
}

/** A TCP forwarder on 127.0.0.1:0 to `port`: the MTA sees every client as 127.0.0.1, as behind a proxy. */
async function forwarder(port: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

async function probeJson(port: number, dir: string): Promise<string> {
  const p = await run(
    'probe',
    '--target',
    `127.0.0.1:${port}`,
    '--source-ip',
    '127.0.0.2',
    '--ext-domain',
    'relay-check.example',
    '--tests',
    'nmap-01,nmap-02',
    '--json',
  );
  expect(p.err).toBe('');
  const file = join(dir, 'probe.json');
  writeFileSync(file, p.out);
  return file;
}

describe('relay-audit explain', () => {
  it('agrees, naming the access line that lets the vantage relay; exit 1 because it relays', async () => {
    const { dir, args } = config('127.0.0');
    const report = await probeJson(await openMta(), dir);
    const r = await run('explain', '--report', report, ...args, '--json');
    const e = JSON.parse(r.out) as Explanation;
    expect(e.ext_domain).toBe('relay-check.example');
    expect(e.vantages.map((v) => [v.vantage, v.seen_as?.address, v.observed, v.predicted, v.status])).toEqual([
      ['127.0.0.2', '127.0.0.2', 'open', 'open', 'agree'],
    ]);
    expect(e.vantages[0]?.client?.covered_by).toEqual([{ kind: 'client-ip', value: '127.0.0.0/24', from: `${join(dir, 'access')}:2` }]);
    expect(r.err).toBe('');
    expect(r.exit).toBe(1);
  });

  it('behind a proxy: the MTA sees 127.0.0.1, relays, and no grant covers the vantage — the disagreement, exit 1', async () => {
    const { dir, args } = config('127.0.0.1');
    const report = await probeJson(await forwarder(await openMta()), dir);
    const r = await run('explain', '--report', report, ...args);
    expect(r.out.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^target 127\.0\.0\.1:\d+, to relay-check\.example: open; observation and config DISAGREE for 1 of 1 vantage$/),
      `  DISAGREE: vantage 127.0.0.2 relays, but no grant covers it; the MTA saw it as 127.0.0.1, which loopback 127.0.0.1/32 (sendmail (built in)), client-ip 127.0.0.1/32 (${join(dir, 'access')}:2) cover`,
      '    seen as ? [127.0.0.1]',
    ]);
    expect(r.out).toContain(
      '    likely cause: a proxy, NAT or container port mapping in front of the MTA makes outside connections look local;',
    );
    expect(r.exit).toBe(1);
  });

  it('the MTA saw the vantage itself and relays against the files: a config mismatch', async () => {
    const { dir, args } = config('127.0.0.1');
    const report = await probeJson(await openMta(), dir);
    const r = await run('explain', '--report', report, ...args, '--json');
    expect((JSON.parse(r.out) as Explanation).vantages[0]).toMatchObject({
      status: 'disagree',
      cause: 'config-mismatch',
      message: 'vantage 127.0.0.2 relays, but no grant covers it',
    });
    expect(r.exit).toBe(1);
  });

  it('reads the report from standard input with --report -', async () => {
    const { args } = config('127.0.0.1');
    const report = JSON.stringify({
      target: '127.0.0.1:25',
      vantages: [
        {
          vantage: '127.0.0.2',
          verdict: 'closed',
          seen_as: { name: null, address: '127.0.0.2' },
          probes: [{ id: 'nmap-01', mail_from: '', rcpt_to: 'relaytest@relay-check.example', class: 'DENIED' }],
        },
      ],
    });
    const io = createMemoryIo();
    const opts = { report: '-', mc: args[1] ?? '', access: args[3] ?? '', hosts: args[5] ?? '', timeout: 3000, json: false };
    const e = await runExplainCommand(opts, io, Readable.from([report]));
    expect(e.vantages[0]).toMatchObject({
      status: 'agree',
      message: 'vantage 127.0.0.2 is refused, as the config says: no grant covers it',
    });
    expect(io.exitCode()).toBe(0);
  });

  it.each([
    [['--report', '/nonexistent/probe.json'], /^relay-audit: cannot read the probe report \/nonexistent\/probe\.json: ENOENT/],
    [['--report', 'REPORT', '--ext-domain', 'not a domain'], /^relay-audit: --ext-domain 'not a domain' is not a domain name\n$/],
  ])('bad input %j is one line and exit 2', async (extra, line) => {
    const { dir, args } = config('127.0.0.1');
    writeFileSync(join(dir, 'REPORT'), '{}');
    const r = await run('explain', ...extra.map((a) => (a === 'REPORT' ? join(dir, 'REPORT') : a)), ...args);
    expect(r.err).toMatch(line);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.exit).toBe(2);
  });

  it('a file that is not a probe report is one line naming it, exit 2', async () => {
    const { dir, args } = config('127.0.0.1');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ target: 't', verdict: 'open', time: '', open: [] }));
    const r = await run('explain', '--report', join(dir, 'state.json'), ...args);
    expect(r.err).toBe(`relay-audit: ${join(dir, 'state.json')}: not the output of 'relay-audit probe --json' (no "vantages" list)\n`);
    expect(r.exit).toBe(2);
  });
});
