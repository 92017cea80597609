/**
 * `dnslog rotate` against a real named under continuous query load (dnsperf): after several
 * rotations, locally and over SSH, the lines in the rotated files plus the live file equal the
 * queries sent — not one lost. The copy-then-truncate method, run the same way, loses lines.
 * A private named (own config, own rndc key, free loopback ports) so the shared log is untouched.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, namedOptions, startPrivateNamed, type PrivateNamed } from './private-named.js';
import { services } from './services-env.js';

const run = promisify(execFile);
const svc = services();

let dir: string;
let port: number;
let rndcPort: number;
let named: PrivateNamed;
let log: string;
let rndc: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const dnslog = (args: string[], timeout = 60_000): Promise<ToolRun> => runTool('dnslog', args, { timeoutMs: timeout });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dnslog-rotate-'));
  port = await freePort();
  rndcPort = await freePort();
  log = join(dir, 'query.log');
  await run('rndc-confgen', ['-a', '-A', 'hmac-sha256', '-k', 'rotate-test', '-c', join(dir, 'rndc.key')], { timeout: 10_000 });
  writeFileSync(
    join(dir, 'zone'),
    '$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nns1 IN A 127.0.0.1\n* IN A 127.0.0.1\n',
  );
  writeFileSync(
    join(dir, 'rndc.conf'),
    `include "${dir}/rndc.key";\noptions { default-key rotate-test; default-server 127.0.0.1; default-port ${rndcPort}; };\n`,
  );
  rndc = `rndc -c ${join(dir, 'rndc.conf')} reconfig`;
  named = await startPrivateNamed({
    dir,
    port,
    probe: ['ns1.rotate.test', 'A'],
    ready: () => run('rndc', ['-c', join(dir, 'rndc.conf'), 'status'], { timeout: 5_000 }),
    conf: `include "${dir}/rndc.key";
controls { inet 127.0.0.1 port ${rndcPort} allow { 127.0.0.1; } keys { rotate-test; }; };
${namedOptions(dir, [`listen-on port ${port} { 127.0.0.1; };`, 'listen-on-v6 { none; };'], ['querylog yes;'])}logging {
  channel q { file "${log}"; severity info; print-time yes; print-category yes; print-severity yes; };
  channel g { file "${dir}/named.log"; severity info; print-time yes; };
  category queries { q; };
  category default { g; };
};
zone "rotate.test" { type primary; file "${dir}/zone"; };
`,
  });
  // One query per line, distinct names so that every logged line can be told apart.
  writeFileSync(join(dir, 'queries.txt'), Array.from({ length: 5000 }, (_, i) => `q${i}.rotate.test A\n`).join(''));
});

afterAll(async () => {
  await named?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Load {
  sent: number;
  completed: number;
  lost: number;
}

/** dnsperf for `seconds` at a bounded rate; its own counts of what it sent. */
async function load(seconds: number, qps: number): Promise<Load> {
  const { stdout } = await run(
    'dnsperf',
    ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'queries.txt'), '-l', String(seconds), '-Q', String(qps), '-c', '4', '-t', '2'],
    { timeout: (seconds + 20) * 1000 },
  );
  const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(stdout)?.[1] ?? NaN);
  return { sent: num('Queries sent'), completed: num('Queries completed'), lost: num('Queries lost') };
}

function queryLines(files: readonly string[]): number {
  let n = 0;
  for (const f of files) for (const l of readFileSync(f, 'latin1').split('\n')) if (/ query: q\d+\.rotate\.test IN A /.test(l)) n++;
  return n;
}

function logFiles(): string[] {
  return readdirSync(dir)
    .filter((f) => f === 'query.log' || /^query\.log\.\d{14}$/.test(f))
    .map((f) => join(dir, f));
}

/** named writes asynchronously: wait until the count stops growing. */
async function settledLines(files: () => string[], want: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let n = -1;
  let stable = 0;
  for (;;) {
    const now = queryLines(files());
    stable = now === n ? stable + 1 : 0;
    if (now >= want || stable >= 4 || Date.now() > deadline) return now;
    n = now;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('dnslog rotate under continuous load', () => {
  it('loses not one line over several rotations (local and over SSH) while dnsperf runs', async () => {
    // Back-to-back one-second dnsperf runs until the rotations are done: the load spans them all,
    // however long a rotation takes on a busy machine.
    let isRotating = true;
    const total: Load = { sent: 0, completed: 0, lost: 0 };
    const loading = (async () => {
      do {
        const l = await load(1, 1000);
        total.sent += l.sent;
        total.completed += l.completed;
        total.lost += l.lost;
      } while (isRotating);
      return total;
    })();
    const rotations: { run: Run }[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const args = ['rotate', '--log', log, '--rndc', rndc, '--json'];
      if (i === 1)
        args.push(
          '--host',
          `ssh://${svc.sshd.user}@${svc.sshd.host}:${svc.sshd.port}`,
          '--ssh-key',
          svc.sshd.privateKey,
          '--known-hosts',
          svc.sshd.knownHosts,
        );
      const r = await dnslog(args);
      rotations.push({ run: r });
    }
    await new Promise((r) => setTimeout(r, 300));
    isRotating = false;
    const sent = await loading;
    for (const { run: r } of rotations) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const rotated = rotations.map(({ run: r }) => (JSON.parse(r.stdout) as { rotatedTo: string | null }[])[0]?.rotatedTo ?? '');
    expect(new Set(rotated).size).toBe(3);
    for (const f of rotated) expect(f).toMatch(/query\.log\.\d{14}$/);
    expect(sent.lost).toBe(0);
    expect(sent.sent).toBeGreaterThan(1000);
    const lines = await settledLines(logFiles, sent.sent);
    // The load spanned the rotations (each rotated file got lines, and so did the new live log), and the total is exact.
    for (const f of [...rotated, log]) expect(queryLines([f])).toBeGreaterThan(0);
    expect(lines).toBe(sent.sent);
    console.log(`rotate: ${sent.sent} queries sent over 3 rotations, ${lines} lines in ${logFiles().length} files`);
  });

  it('copy-then-truncate, the usual alternative, loses the lines written between copy and truncate', async () => {
    for (const f of logFiles()) rmSync(f);
    await run('rndc', ['-c', join(dir, 'rndc.conf'), 'reconfig'], { timeout: 10_000 });
    const loading = load(2, 1500);
    await new Promise((r) => setTimeout(r, 700));
    const copy = join(dir, 'copied.log');
    copyFileSync(log, copy);
    // The copy of a real, large log takes time; named keeps writing meanwhile.
    await new Promise((r) => setTimeout(r, 100));
    truncateSync(log, 0);
    const sent = await loading;
    expect(sent.lost).toBe(0);
    const lines = await settledLines(() => [copy, log], sent.sent);
    expect(lines).toBeLessThan(sent.sent);
    console.log(`copy-truncate: ${sent.sent} queries sent, ${lines} lines kept, ${sent.sent - lines} lost`);
  });

  it('a failing rndc: one line, exit 2, the renamed file kept; the next rotate repairs it', async () => {
    const r = await dnslog(['rotate', '--log', log, '--rndc', `rndc -c ${join(dir, 'missing.conf')} reconfig`]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(2);
    const m =
      /^dnslog: localhost: renamed (\S+) to (\S+) \(kept; no line is lost\), but 'rndc -c \S+ reconfig' failed \(exit 1: .*\); named still writes into \2 until told to reopen/.exec(
        r.stderr,
      );
    expect(m).not.toBeNull();
    expect(existsSync(m?.[2] ?? '')).toBe(true);
    expect(existsSync(log)).toBe(false);
    const again = await dnslog(['rotate', '--log', log, '--rndc', rndc]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no live log to rename; told named to reopen its log anyway');
    await run('dig', ['-p', String(port), '@127.0.0.1', '+tries=1', '+time=2', 'q1.rotate.test', 'A'], { timeout: 10_000 });
    expect(await settledLines(() => (existsSync(log) ? [log] : []), 1)).toBe(1);
  });

  it('refuses to run while another rotation holds the lock', async () => {
    rmSync(`${log}.rotate.lock`, { recursive: true, force: true });
    writeFileSync(`${log}.rotate.lock`, `${named.pid}\n`);
    try {
      const r = await dnslog(['rotate', '--log', log, '--rndc', rndc]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `dnslog: lock ${log}.rotate.lock is held by running process ${named.pid}; wait for it to finish, or stop PID ${named.pid}\n`,
      );
    } finally {
      rmSync(`${log}.rotate.lock`, { force: true });
    }
  });
});
