/**
 * The containerized sendmail CI target, for real: apps/relay-audit/examples/Dockerfile built with
 * podman (closed, and opened to podman's bridge network with a build argument), run with port 25
 * published on 127.0.0.1, and probed by relay-audit from OUTSIDE the container; then the CI
 * workflow file's steps, as written, through the docker client against podman's API socket.
 * test/scripts/container-engine.sh installs podman and makes the base image once (no registry is
 * reachable here). Containers are removed by ID; what podman changed on the host (ip_forward, its
 * iptables chains) is put back.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'apps/relay-audit/examples');
const WORKFLOW = join(EXAMPLES, 'relay-audit-ci.yml');

let work: string;
let env: NodeJS.ProcessEnv;
const containers = new Set<string>();
let service: ChildProcess | null = null;
let ipForward = '';
let iptablesBefore = '';
let linksBefore: string[] = [];
let nftBefore: string[] | null = null;

/** nftables' tables (`inet netavark`…), or null without the nft command. */
async function nftTables(): Promise<string[] | null> {
  const r = await sh('nft', ['list', 'tables']).catch(() => null);
  return r === null || r.code !== 0 ? null : r.stdout.split('\n').filter((l) => l.startsWith('table '));
}

/** The network links of the host, by name. */
async function links(): Promise<string[]> {
  const r = await sh('ip', ['-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');
}
const timings: string[] = [];

async function sh(cmd: string, args: readonly string[], timeoutMs = 600_000, extraEnv: NodeJS.ProcessEnv = {}) {
  try {
    const r = await exec(cmd, args, { env: { ...env, ...extraEnv }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, cwd: ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw new Error(`${cmd} ${args.join(' ')}: ${e.message}`);
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** iptables as text without packet counters, to compare before and after. */
async function iptablesState(): Promise<string> {
  const r = await sh('iptables-save', []);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The first line the MTA sends on 127.0.0.1:port, waiting for it to come up (a published port accepts before sendmail does). */
async function banner(port: number, withinMs = 90_000): Promise<string> {
  const until = Date.now() + withinMs;
  for (;;) {
    const line = await new Promise<string | null>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let buf = '';
      const done = (v: string | null) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(5000, () => done(null));
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.includes('\n')) done(buf.split('\r\n')[0] ?? buf);
      });
      s.on('error', () => done(null));
      s.on('close', () => done(buf === '' ? null : buf));
    });
    if (line !== null && line.startsWith('220')) return line;
    if (Date.now() > until)
      throw new Error(`no SMTP banner on 127.0.0.1:${port} within ${withinMs / 1000} s (last: ${JSON.stringify(line)})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function podman(args: readonly string[], timeoutMs = 600_000) {
  return sh('podman', args, timeoutMs);
}

async function build(tag: string, extra: readonly string[] = []): Promise<number> {
  const t0 = Date.now();
  const r = await podman(['build', '--pull=never', '--network', 'host', '-t', tag, ...extra, EXAMPLES], 900_000);
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  return (Date.now() - t0) / 1000;
}

async function runTarget(image: string, port: number): Promise<string> {
  const r = await podman(['run', '-d', '--hostname', 'mx.example.test', '--dns', '127.0.0.1', '-p', `127.0.0.1:${port}:25`, image]);
  expect(r.code, r.stderr).toBe(0);
  const id = r.stdout.trim();
  containers.add(id);
  return id;
}

async function removeContainer(id: string): Promise<void> {
  const r = await podman(['rm', '-f', '-t', '2', id]);
  expect(r.code, r.stderr).toBe(0);
  containers.delete(id);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'relay-container-'));
  env = { ...process.env };
  ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const t0 = Date.now();
  const setup = await sh('bash', [join(ROOT, 'test/scripts/container-engine.sh'), 'setup', work], 1_800_000);
  // No engine installable, no base image: the suite fails here with the script's one line.
  expect(setup.code, setup.stderr).toBe(0);
  for (const line of setup.stdout.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1] ?? ''] = m[2];
  }
  timings.push(`engine and base image ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  iptablesBefore = await iptablesState();
  linksBefore = await links();
  nftBefore = await nftTables();
}, 1_800_000);

afterAll(async () => {
  service?.kill();
  for (const id of containers) await podman(['rm', '-f', '-t', '2', id]).catch(() => undefined);
  if (ipForward !== '') writeFileSync('/proc/sys/net/ipv4/ip_forward', `${ipForward}\n`);
  // netavark's chains outlive the containers: the tables go back to what they were.
  if (iptablesBefore !== '' && (await iptablesState()) !== iptablesBefore) {
    const restore = spawn('iptables-restore', [], { stdio: ['pipe', 'inherit', 'inherit'] });
    restore.stdin.end(`${iptablesBefore}\n`);
    await new Promise((r) => restore.on('close', r));
  }
  // netavark's nftables table (podman 5) outlives the containers too.
  if (nftBefore !== null) {
    for (const t of (await nftTables()) ?? []) if (!nftBefore.includes(t)) await sh('nft', ['delete', ...t.split(' ').slice(1)]);
  }
  // The bridge podman made (cni-podman0 or podman0) stays after its last container: removed.
  if (linksBefore.length > 0)
    for (const l of (await links()).filter((n) => !linksBefore.includes(n) && /podman/.test(n))) await sh('ip', ['link', 'del', l]);
  if (work) {
    await sh('bash', [join(ROOT, 'test/scripts/container-engine.sh'), 'teardown', work]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  rmSync(join(ROOT, 'relay-audit.xml'), { force: true });
  console.log(`relay-audit container timings:\n  ${timings.join('\n  ')}`);
}, 120_000);

describe('the containerized sendmail target', () => {
  it('builds closed and opened, runs with a published port, and is probed from outside: closed exit 0, open exit 1 with evidence, JUnit written', async () => {
    await podman(['rmi', '-f', 'localhost/relay-target:closed', 'localhost/relay-target:open']);
    timings.push(`podman build, closed (no layer cached): ${(await build('localhost/relay-target:closed')).toFixed(1)} s`);
    // The open image differs after the packages: its apt layer comes from the cache.
    timings.push(
      `podman build, open (packages cached): ${(await build('localhost/relay-target:open', ['--build-arg', 'RELAY_FROM=10.88'])).toFixed(1)} s`,
    );
    timings.push(`podman build, closed again (all cached): ${(await build('localhost/relay-target:closed')).toFixed(1)} s`);

    for (const [image, verdict, code] of [
      ['localhost/relay-target:closed', 'closed', 0],
      ['localhost/relay-target:open', 'open', 1],
    ] as const) {
      const port = await freePort();
      const t0 = Date.now();
      const id = await runTarget(image, port);
      expect(await banner(port)).toMatch(/^220 mta\.example\.test ESMTP Sendmail/);
      timings.push(`${verdict}: run to banner ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const junit = join(work, `${verdict}.xml`);
      const t1 = Date.now();
      const r = await runTool(
        'relay-audit',
        [
          'probe',
          '--target',
          `127.0.0.1:${port}`,
          '--submission-ports',
          'none',
          '--ext-domain',
          'relay-check.example',
          '--junit',
          junit,
          '--json',
        ],
        {
          timeoutMs: 120_000,
        },
      );
      timings.push(`${verdict}: probe ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      expect(r.code, r.stderr).toBe(code);
      const report = JSON.parse(r.stdout) as {
        verdict: string;
        vantages: {
          verdict: string;
          seen_as: { address: string | null } | null;
          probes: { class: string; id: string; rcpt_to: string }[];
        }[];
      };
      expect(report.verdict).toBe(verdict);
      // From outside: the MTA saw the bridge's gateway (podman's 10.88/16), never its own loopback.
      expect(report.vantages[0]?.seen_as?.address).toMatch(/^10\.88\./);
      const accepted =
        report.vantages[0]?.probes.filter((p) => p.class === 'ACCEPTED_RCPT' && p.rcpt_to.includes('relay-check.example')) ?? [];
      if (verdict === 'open') expect(accepted.length).toBeGreaterThan(0);
      else expect(accepted).toEqual([]);
      const xml = readFileSync(junit, 'utf8');
      expect(xml).toContain('<testsuite');
      expect(/failures="(\d+)"/.exec(xml)?.[1] === '0').toBe(verdict === 'closed');
      await removeContainer(id);
      expect((await podman(['ps', '-a', '-q', '--no-trunc'])).stdout).not.toContain(id);
    }
  }, 1_800_000);

  it("runs the CI workflow's steps as written, through the docker client against podman's API socket", async () => {
    const sock = join(work, 'podman.sock');
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { env, stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(sock)).toBe(true);
    const steps = workflowSteps(readFileSync(WORKFLOW, 'utf8'));
    // The README shows the same job.
    const readme = readFileSync(join(ROOT, 'apps/relay-audit/README.md'), 'utf8');
    for (const s of steps) if (s.run !== undefined) expect(readme).toContain(s.run);
    const githubEnv = join(work, 'github-env');
    writeFileSync(githubEnv, '');
    const stepEnv: NodeJS.ProcessEnv = { DOCKER_HOST: `unix://${sock}`, GITHUB_ENV: githubEnv };
    let failed = false;
    const ran: { run: string; code: number }[] = [];
    for (const s of steps) {
      // checkout, setup-node and upload-artifact are the runner's; `npm ci && npm run build` is what
      // this suite's own set-up did (run again, it would reinstall the tree the tests run from).
      if (s.run === undefined || s.run.startsWith('npm ci')) continue;
      if (failed && s.if !== 'always()') continue;
      const t0 = Date.now();
      const r = await sh('bash', ['-e', '-c', s.run], 600_000, stepEnv);
      timings.push(`workflow step "${s.name ?? s.run.slice(0, 40)}": ${((Date.now() - t0) / 1000).toFixed(1)} s (exit ${r.code})`);
      ran.push({ run: s.run, code: r.code });
      if (r.code !== 0) failed = true;
      for (const line of readFileSync(githubEnv, 'utf8').split('\n')) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
        if (m) stepEnv[m[1] ?? ''] = m[2];
      }
      if (s.run.startsWith('docker run')) containers.add(String(stepEnv.TARGET_ID));
    }
    expect(ran.map((r) => r.code)).toEqual(ran.map(() => 0));
    expect(ran.some((r) => r.run.startsWith('npx relay-audit probe'))).toBe(true);
    expect(readFileSync(join(ROOT, 'relay-audit.xml'), 'utf8')).toContain('failures="0"');
    // The workflow's own last step removed the target, by ID.
    const id = String(stepEnv.TARGET_ID);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await podman(['ps', '-a', '-q', '--no-trunc'])).stdout).not.toContain(id);
    containers.delete(id);
    service.kill();
    service = null;
  }, 1_800_000);

  it('bad input: a build that fails, a port already taken, a target that never gives a banner — one clear line each, nothing left running', async () => {
    const ctx = join(work, 'broken');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM debian:12-slim\nRUN exit 7\n');
    const bad = await podman(['build', '--pull=never', '--network', 'host', '-t', 'localhost/broken', ctx]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/exit status 7/);

    const holder = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    const taken = (holder.address() as net.AddressInfo).port;
    const before = (await podman(['ps', '-a', '-q'])).stdout;
    const r = await podman(['run', '-d', '--hostname', 'mx.example.test', '-p', `127.0.0.1:${taken}:25`, 'localhost/relay-target:closed']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/address already in use/);
    // podman leaves the created container behind: removed by ID, nothing left.
    for (const id of (await podman(['ps', '-a', '-q'])).stdout.split('\n').filter((x) => x !== '' && !before.includes(x)))
      await removeContainer(id);

    // A listener that accepts and never speaks: the probe is inconclusive (3), with one line.
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((res) => silent.once('listening', res));
    const port = (silent.address() as net.AddressInfo).port;
    const p = await runTool('relay-audit', [
      'probe',
      '--target',
      `127.0.0.1:${port}`,
      '--submission-ports',
      'none',
      '--ext-domain',
      'relay-check.example',
      '--timeout',
      '1s',
    ]);
    expect(p.code).toBe(3);
    expect(
      p.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('relay-audit:')).length,
    ).toBeGreaterThanOrEqual(1);
    holder.close();
    silent.close();
    expect((await podman(['ps', '-q'])).stdout.trim()).toBe('');
  }, 600_000);
});

interface Step {
  name?: string;
  run?: string;
  if?: string;
}

/** The steps of the workflow's one job: `- ` items with `name:`, `run:` and `if:` on single lines. */
function workflowSteps(yaml: string): Step[] {
  const steps: Step[] = [];
  let inSteps = false;
  for (const line of yaml.split('\n')) {
    if (/^\s+steps:\s*$/.test(line)) {
      inSteps = true;
      continue;
    }
    if (!inSteps) continue;
    const item = /^\s+- (\w+):\s*(.*)$/.exec(line);
    const field = /^\s+(\w+):\s*(.*)$/.exec(line);
    if (item) steps.push({ [item[1] ?? '']: item[2] });
    else if (field && steps.length > 0) Object.assign(steps[steps.length - 1] ?? {}, { [field[1] ?? '']: field[2] });
  }
  return steps;
}
