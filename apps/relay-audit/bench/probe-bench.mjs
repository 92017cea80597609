// Benchmark: relay-audit's full battery from 5 vantages against the test sendmail (started by
// test/scripts/services.sh), side by side with nmap's smtp-open-relay script from the same
// source addresses. Run from the repository root after `npm run build`:
//   node apps/relay-audit/bench/probe-bench.mjs
// Prints one JSON line per tool, with the load average it ran under and the CPU time sendmail's
// children spent per connection (the server's own cost, which does not move with the load).
// Needs nmap (Debian package) and root (for -S/-e).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const env = JSON.parse(readFileSync(`${root}.services/env.json`, 'utf8'));
const cli = `${root}apps/relay-audit/bin/relay-audit.js`;
const target = `${env.sendmail.host}:${env.sendmail.port}`;
const sources = [...env.network.rootAddresses, env.network.bridgeAddress];
const ssh = [
  `ssh://${env.sshd.user}@${env.sshd.vantage.host}:${env.sshd.vantage.port}`,
  `ssh://${env.sshd.user}@${env.sshd.host}:${env.sshd.port}`,
];
const rounds = Number(process.argv[2] ?? 3);
const ticksPerSecond = 100; // USER_HZ on Linux

/** CPU seconds sendmail's daemon and its reaped children (one per connection) have used so far. */
function sendmailCpu() {
  const pid = readFileSync(env.sendmail.pidFile, 'utf8').split('\n')[0];
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / ticksPerSecond;
}

function passiveOpens() {
  return run('ip', ['netns', 'exec', env.sendmail.netns, 'nstat', '-asz', 'TcpPassiveOpens']).then(({ stdout }) =>
    Number(/TcpPassiveOpens\s+(\d+)/.exec(stdout)?.[1] ?? NaN),
  );
}

async function relayAudit(perConnection) {
  const args = [
    cli,
    'probe',
    '--per-connection',
    String(perConnection),
    '--target',
    target,
    '--ext-domain',
    'relay-check.example',
    '--json',
    '--ssh-key',
    env.sshd.privateKey,
    '--known-hosts',
    env.sshd.knownHosts,
  ];
  for (const s of sources) args.push('--source-ip', s);
  for (const s of ssh) args.push('--vantage', s);
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, args, { maxBuffer: 64 << 20 }).catch((e) => e);
  const seconds = (performance.now() - t0) / 1000;
  const report = JSON.parse(stdout);
  // + the greeting session per vantage and port; the refused connects to closed submission ports are not counted
  const probes = report.vantages.reduce((n, v) => n + v.probes.length + v.ports.filter((p) => p.status === 'probed').length, 0);
  const closedPorts = [...new Set(report.vantages.flatMap((v) => v.ports.filter((p) => p.status === 'closed').map((p) => p.port)))];
  return {
    seconds,
    probes,
    vantages: report.vantages.length,
    verdicts: report.vantages.map((v) => `${v.seen_as?.address}:${v.verdict}`),
    closedPorts,
  };
}

async function nmap() {
  const t0 = performance.now();
  const verdicts = [];
  for (const s of sources) {
    const { stdout } = await run('nmap', [
      '-n',
      '-Pn',
      '-sT',
      '-p',
      String(env.sendmail.port),
      '-S',
      s,
      '-e',
      env.network.bridge,
      '--script',
      '+smtp-open-relay',
      '--script-args',
      `smtp-open-relay.domain=relay-check.example,smtp-open-relay.ip=${env.sendmail.host}`,
      env.sendmail.host,
    ]);
    verdicts.push(`${s}:${/is an open relay/.test(stdout) ? 'open' : 'closed'}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, probes: 16 * sources.length, vantages: sources.length, verdicts };
}

const rates = {};
for (const [name, fn] of [
  ['relay-audit, a connection per probe', () => relayAudit(1)],
  ['relay-audit --per-connection 16', () => relayAudit(16)],
  ['nmap --script +smtp-open-relay', nmap],
]) {
  const times = [];
  const load = loadavg()[0];
  let last;
  const cpu0 = sendmailCpu();
  const opens0 = await passiveOpens();
  for (let i = 0; i < rounds; i++) {
    last = await fn();
    times.push(last.seconds);
  }
  await new Promise((r) => setTimeout(r, 500)); // let the last children exit and be reaped
  const connections = ((await passiveOpens()) - opens0) / rounds;
  const cpuPerConn = ((sendmailCpu() - cpu0) / rounds / connections) * 1000;
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    JSON.stringify({
      tool: name,
      vantages: last.vantages,
      probes: last.probes,
      connections,
      median_s: Number(median.toFixed(2)),
      probes_per_s: Number((last.probes / median).toFixed(1)),
      sendmail_cpu_ms_per_connection: Number(cpuPerConn.toFixed(1)),
      load_1min: Number(load.toFixed(1)),
      verdicts: last.verdicts,
      ...(last.closedPorts ? { closed_ports: last.closedPorts } : {}),
    }),
  );
  rates[name] = { perS: last.probes / median, median };
}
const ours = rates['relay-audit, a connection per probe'];
const pooled = rates['relay-audit --per-connection 16'];
const nm = rates['nmap --script +smtp-open-relay'];
console.log(
  `ratios: probes/s, a connection per probe vs nmap ${(ours.perS / nm.perS).toFixed(2)}x (target >= 1); ` +
    `--per-connection 16 vs nmap ${(pooled.perS / nm.perS).toFixed(2)}x; 5-vantage battery ${ours.median.toFixed(2)} s (target < 5 s)`,
);
