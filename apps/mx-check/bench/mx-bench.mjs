// Benchmark: mx-check over 10,000 domains against a private local named, side by side with the
// way people do it (a shell loop of dig), with adnshost (bulk asynchronous resolver, Debian
// adns-tools) when it is installed, with a resolver that drops 20% of the queries, and with a dead
// resolver. Every query goes to loopback. Run: npm run bench -w mx-check (after the build).
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../bin/mx-check.js', import.meta.url));
const N = Number(process.env.MX_BENCH_DOMAINS ?? 10_000);
const DIG_SAMPLE = Number(process.env.MX_BENCH_DIG_SAMPLE ?? 200);
const HOST = '127.0.0.1';

async function portFree(host, port) {
  const s = createServer();
  const ok = await new Promise((r) => {
    s.once('error', () => r(false));
    s.listen(port, host, () => r(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

const dir = mkdtempSync(join(tmpdir(), 'mx-bench-'));
// port 53 lets adnshost (which cannot take a port) ask the same server; any free port otherwise
const port = (await portFree(HOST, 53)) ? 53 : await freePort();
const host = port === 53 ? HOST : '127.0.0.1';
const domains = Array.from({ length: N }, (_, i) => `d${i}.bench.test`);
const kinds = (i) => i % 10; // 70% ok, then null MX, localhost, NXDOMAIN exchange
const lines = [
  '$TTL 300',
  '@ IN SOA ns1.bench.test. h.bench.test. 1 3600 600 86400 300',
  '@ IN NS ns1.bench.test.',
  'ns1.bench.test. A 127.0.0.1',
];
domains.forEach((d, i) => {
  const k = kinds(i);
  if (k < 7)
    lines.push(`${d}. MX 10 mx.${d}.`, `mx.${d}. A 192.0.2.${(i % 250) + 1}`, `mx.${d}. AAAA 2001:db8::${(i % 9000).toString(16)}`);
  else if (k === 7) lines.push(`${d}. MX 0 .`);
  else if (k === 8) lines.push(`${d}. MX 10 localhost.`);
  else lines.push(`${d}. MX 10 gone.${d}.`);
});
writeFileSync(join(dir, 'root.zone'), `${lines.join('\n')}\n`);
writeFileSync(join(dir, 'domains.txt'), `${domains.join('\n')}\n`);
writeFileSync(
  join(dir, 'named.conf'),
  `options { directory "${dir}"; pid-file "${dir}/named.pid"; session-keyfile "${dir}/s.key";
  listen-on port ${port} { ${host}; }; listen-on-v6 { none; }; minimal-responses yes; recursion no; dnssec-validation no; notify no; };
controls { };
logging { channel g { file "${dir}/named.log"; severity info; }; category default { g; }; };
zone "." { type primary; file "${dir}/root.zone"; };\n`,
);
const named = spawn('/usr/sbin/named', ['-f', '-c', join(dir, 'named.conf')], { stdio: 'ignore' });
// never leave the private named behind, also when the benchmark dies half-way
process.on('exit', () => named.kill('SIGTERM'));
const cleanup = () => {
  if (process.env.MX_BENCH_KEEP) return;
  named.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
for (let i = 0; ; i++) {
  try {
    await run('dig', ['-p', String(port), `@${host}`, '+tries=1', '+time=1', 'd0.bench.test', 'MX'], { timeout: 3000 });
    break;
  } catch (err) {
    if (i > 150) {
      cleanup();
      throw err;
    }
    await sleep(100);
  }
}

const hasTime = existsSync('/usr/bin/time');
async function timed(argv, input) {
  const t0 = performance.now();
  const args = hasTime ? ['/usr/bin/time', ['-f', 'MAXRSS %M', ...argv]] : [argv[0], argv.slice(1)];
  const child = spawn(args[0], args[1], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(input ?? '');
  const code = await new Promise((r) => child.on('exit', r));
  const s = (performance.now() - t0) / 1000;
  const rss = /MAXRSS (\d+)/.exec(err)?.[1];
  return { s, out, err, code, rssMiB: rss ? Number(rss) / 1024 : null };
}

const resolverArg = port === 53 ? host : `${host}:${port}`;
// MX_BENCH_NODE_ARGS='--max-old-space-size=64' shows that memory is bounded: the run still completes
const nodeArgs = (process.env.MX_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const base = [
  process.execPath,
  ...nodeArgs,
  CLI,
  '--file',
  join(dir, 'domains.txt'),
  '--json',
  '--treat-as-global',
  '192.0.2.0/24',
  '--treat-as-global',
  '2001:db8::/32',
  '--concurrency',
  '256',
];
const verdictCounts = (out) => {
  const c = {};
  for (const l of out.trim().split('\n')) {
    const v = JSON.parse(l).verdict;
    c[v] = (c[v] ?? 0) + 1;
  }
  return c;
};
const rows = [];

const mx = await timed([...base, '--resolver', resolverArg]);
rows.push(['mx-check (MX + A + AAAA, classified)', N, mx.s, N / mx.s, mx.rssMiB, JSON.stringify(verdictCounts(mx.out))]);

// the way people do it: one dig for the MX, one per exchange for A and AAAA
const sample = domains.slice(0, DIG_SAMPLE);
const t0 = performance.now();
for (const d of sample) {
  const { stdout } = await run('dig', ['-p', String(port), `@${host}`, '+short', '+tries=1', '+time=2', d, 'MX']);
  for (const line of stdout.trim().split('\n').filter(Boolean)) {
    const target = line.split(' ')[1];
    if (!target || target === '.') continue;
    await run('dig', ['-p', String(port), `@${host}`, '+short', '+tries=1', '+time=2', target, 'A']);
    await run('dig', ['-p', String(port), `@${host}`, '+short', '+tries=1', '+time=2', target, 'AAAA']);
  }
}
const digS = (performance.now() - t0) / 1000;
rows.push([`dig loop (${DIG_SAMPLE} domains, rate extrapolated)`, DIG_SAMPLE, digS, DIG_SAMPLE / digS, null, '-']);

if (port === 53 && existsSync('/usr/bin/adnshost')) {
  const a = await timed(['/usr/bin/adnshost', '--config', `nameserver ${host}`, '-a', '-f', '-t', 'mx'], `${domains.join('\n')}\n`);
  rows.push(['adnshost -a -f -t mx (MX + addresses, no classification)', N, a.s, N / a.s, a.rssMiB, `exit ${a.code}`]);
}

// a resolver that drops 20% of the queries: a UDP relay in front of named
const relay = dgram.createSocket('udp4');
await new Promise((r) => relay.bind(0, '127.0.0.1', r));
const upstream = dgram.createSocket('udp4');
await new Promise((r) => upstream.bind(0, '127.0.0.1', r));
const clients = new Map();
let dropped = 0;
relay.on('message', (msg, rinfo) => {
  if (Math.random() < 0.2) {
    dropped++;
    return;
  }
  clients.set(msg.readUInt16BE(0), rinfo);
  upstream.send(msg, port, host);
});
upstream.on('message', (msg) => {
  const c = clients.get(msg.readUInt16BE(0));
  if (c) relay.send(msg, c.port, c.address);
});
const drop = await timed([...base, '--resolver', `127.0.0.1:${relay.address().port}`, '--timeout', '250ms', '--retries', '8']);
const dropCounts = verdictCounts(drop.out);
rows.push([
  'mx-check, resolver drops 20% (--timeout 250ms --retries 8)',
  N,
  drop.s,
  N / drop.s,
  drop.rssMiB,
  `${JSON.stringify(dropCounts)} (${dropped} dropped)`,
]);
relay.close();
upstream.close();

// a dead resolver: a bound socket that never answers
const dead = dgram.createSocket('udp4');
await new Promise((r) => dead.bind(0, '127.0.0.1', r));
const d = await timed([...base, '--resolver', `127.0.0.1:${dead.address().port}`, '--timeout', '1s', '--retries', '2']);
rows.push([
  'mx-check, dead resolver (--timeout 1s --retries 2)',
  N,
  d.s,
  N / d.s,
  d.rssMiB,
  `${JSON.stringify(verdictCounts(d.out))}, exit ${d.code}`,
]);
dead.close();
cleanup();

const mxRate = N / mx.s;
console.log(`mx-check benchmark: ${N} domains, named on ${host}:${port}, node ${process.version}`);
console.log('| run | domains | seconds | domains/s | max RSS MiB | verdicts |');
console.log('| --- | ---: | ---: | ---: | ---: | --- |');
for (const [name, n, s, rate, rss, v] of rows) {
  console.log(`| ${name} | ${n} | ${s.toFixed(2)} | ${Math.round(rate)} | ${rss === null ? '-' : rss.toFixed(0)} | ${v} |`);
}
console.log(`\nmx-check vs dig loop: ${(mxRate / (DIG_SAMPLE / digS)).toFixed(0)}x`);
