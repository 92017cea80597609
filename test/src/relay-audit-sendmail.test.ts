/**
 * relay-audit against real sendmail. Each scenario runs its OWN sendmail daemon inside the MTA
 * namespace (tbx-mta, 10.99.0.1 on slot 0, a port of its own), built from its own .mc with its own
 * access, relay-domains and hosts file, queue-only; the shared sendmail on :25 is never touched.
 * Vantages: the root-namespace source addresses (.21/.22) and the vantage namespace tbx-v1 through
 * its sshd (.11); every address comes from env.json. `config` must predict exactly the verdict
 * `probe` observes from each, and `explain` must agree and name the scenario's own grants. One more
 * sendmail sits behind a TCP forwarder in the MTA namespace, so that it sees every vantage as
 * 127.0.0.1: there observation and config part, and `explain` must say so.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from './services-env.js';
import { namedOptions } from './private-named.js';

const run = promisify(execFile);
const env = services();
const MTA = env.sendmail.host; // 10.99.K.1 inside the MTA namespace
const NETNS = env.sendmail.netns;
const EXT = 'relay-check.example';

const V1 = env.sshd.vantage.host;
const MX_DOMAIN = 'mx-target.test';
/** The test's named inside the MTA namespace: :53 on its loopback for sendmail, this port on MTA for config. */
const DNS_PORT = 2653;
const [SRC21, SRC22] = env.network.rootAddresses as [string, string];

/** The MTA's own hosts file: how it names each vantage (reverse) and what names resolve to (forward). */
const HOSTS = `127.0.0.1\tlocalhost mta.relay-audit.test ${hostname()}
::1\tlocalhost
${MTA}\tmta-ns.relay-audit.test
${V1}\tv1.partner.test
${SRC21}\tpartner.test
${SRC22}\tsrc22.elsewhere.test
`;

interface Scenario {
  name: string;
  port: number;
  features: string[];
  relayDomains: string;
  access: string;
  /** The verdict each client address must get. */
  expected: Record<string, 'open' | 'closed'>;
  /** config's exit code: 1 when a grant reaches beyond loopback. */
  configExit: number;
  /** The external domain probed (default relay-check.example); config then resolves through DNS. */
  ext?: string;
  /** A submission (MSA) daemon of the same sendmail on this port, requiring AUTH (M=Ea, sendmail's default MSA). */
  msaPort?: number;
  /**
   * What `explain` must name for each client address: `kind file:line` of every grant that covers
   * it, then of every REJECT entry that holds it; `sendmail.mc:FEATURE` stands for that FEATURE's line.
   */
  grants: Record<string, string[]>;
  /** sendmail listens on 127.0.0.1:port inside the MTA namespace, reached through a TCP forwarder on MTA:proxyPort. */
  proxyPort?: number;
}

/** Where the vantages reach a scenario's MTA. */
const reach = (s: Scenario): number => s.proxyPort ?? s.port;
const none = (): Record<string, string[]> => ({ [V1]: [], [SRC21]: [], [SRC22]: [] });
const all = (g: string): Record<string, string[]> => ({ [V1]: [g], [SRC21]: [g], [SRC22]: [g] });

const SCENARIOS: Scenario[] = [
  {
    name: 'closed',
    port: 2601,
    features: ['relay_hosts_only'],
    relayDomains: '',
    access: 'Connect:127.0.0.1\tRELAY\n',
    expected: { [V1]: 'closed', [SRC21]: 'closed', [SRC22]: 'closed' },
    configExit: 0,
    grants: none(),
  },
  {
    name: 'open',
    port: 2602,
    features: ['promiscuous_relay'],
    relayDomains: '',
    access: '',
    expected: { [V1]: 'open', [SRC21]: 'open', [SRC22]: 'open' },
    configExit: 1,
    grants: all('promiscuous sendmail.mc:promiscuous_relay'),
  },
  // the motivating hole: partner.test in relay-domains lets every *.partner.test client relay
  {
    name: 'hole',
    port: 2603,
    features: [],
    relayDomains: 'partner.test\n',
    access: '',
    expected: { [V1]: 'open', [SRC21]: 'open', [SRC22]: 'closed' },
    configExit: 1,
    msaPort: 2613,
    grants: { [V1]: ['client-name-suffix relay-domains:1'], [SRC21]: ['client-name-suffix relay-domains:1'], [SRC22]: [] },
  },
  // relay_hosts_only closes the subdomains; the domain's own A record (SRC21) still relays
  {
    name: 'hosts-only',
    port: 2604,
    features: ['relay_hosts_only'],
    relayDomains: 'partner.test\n',
    access: '',
    expected: { [V1]: 'closed', [SRC21]: 'open', [SRC22]: 'closed' },
    configExit: 1,
    grants: { [V1]: [], [SRC21]: ['client-name-exact relay-domains:1'], [SRC22]: [] },
  },
  // and the fix for that: REJECT the address the A record names
  // relay_based_on_MX: anyone may relay to a domain whose MX points at localhost. (the test's own
  // named in the MTA namespace serves mx-target.test); relay-check.example has no MX: closed
  {
    name: 'mx',
    port: 2606,
    features: ['relay_hosts_only', 'relay_based_on_MX'],
    relayDomains: '',
    access: '',
    expected: { [V1]: 'open', [SRC21]: 'open', [SRC22]: 'open' },
    configExit: 1,
    ext: MX_DOMAIN,
    grants: all('relay-to-mx sendmail.mc:relay_based_on_MX'),
  },
  {
    name: 'mx-other-domain',
    port: 2607,
    features: ['relay_hosts_only', 'relay_based_on_MX'],
    relayDomains: '',
    access: '',
    expected: { [V1]: 'closed', [SRC21]: 'closed', [SRC22]: 'closed' },
    configExit: 1,
    grants: none(),
  },
  {
    name: 'a-record-rejected',
    port: 2605,
    features: ['relay_hosts_only'],
    relayDomains: 'partner.test\n',
    access: `Connect:${SRC21}\tREJECT\n`,
    expected: { [V1]: 'closed', [SRC21]: 'closed', [SRC22]: 'closed' },
    configExit: 1,
    grants: { [V1]: [], [SRC21]: ['client-name-exact relay-domains:1', 'reject access:1'], [SRC22]: [] },
  },
];

/**
 * The MTA behind a proxy (or NAT, or a container's port mapping): a TCP forwarder in the MTA
 * namespace joins MTA:proxyPort to sendmail on 127.0.0.1, which therefore sees every vantage as
 * 127.0.0.1 — and loopback relays. The files grant nothing else: config predicts closed.
 */
const PROXIED: Scenario = {
  name: 'behind-proxy',
  port: 2608,
  proxyPort: 2618,
  features: ['relay_hosts_only'],
  relayDomains: '',
  access: 'Connect:127.0.0.1\tRELAY\n',
  expected: { [V1]: 'closed', [SRC21]: 'closed', [SRC22]: 'closed' },
  configExit: 0,
  grants: none(),
};
const FORWARDER = fileURLToPath(new URL('../scripts/tcp-forward.mjs', import.meta.url));

let root: string;
const daemons: ChildProcess[] = [];

/** A named inside the MTA namespace serving mx-target.test (MX → localhost.): sendmail's resolver. */
async function startNamed(): Promise<void> {
  const dir = join(root, 'named');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'zone'),
    `$TTL 60
@ IN SOA ns.${MX_DOMAIN}. hostmaster.${MX_DOMAIN}. 1 60 60 600 60
@ IN NS ns.${MX_DOMAIN}.
ns IN A 127.0.0.1
@ IN MX 10 localhost.
`,
  );
  writeFileSync(
    join(dir, 'named.conf'),
    `${namedOptions(dir, ['listen-on port 53 { 127.0.0.1; };', `listen-on port ${DNS_PORT} { ${MTA}; };`, 'listen-on-v6 { none; };'])}controls { };
zone "${MX_DOMAIN}" { type primary; file "${dir}/zone"; };
`,
  );
  const named = spawn('ip', ['netns', 'exec', NETNS, '/usr/sbin/named', '-f', '-c', join(dir, 'named.conf')], { stdio: 'ignore' });
  daemons.push(named);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: MTA, port: DNS_PORT });
      s.setTimeout(500, () => {
        s.destroy();
        resolve(false);
      });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    if (named.exitCode !== null || Date.now() > deadline)
      throw new Error(`the test named did not start in ${NETNS} (port 53 on its loopback taken?)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function mc(s: Scenario, dir: string): string {
  const e = join(dir, 'etc');
  const lines = [
    'divert(-1)dnl',
    `# relay-audit test scenario ${s.name}`,
    'divert(0)dnl',
    "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl",
    "OSTYPE(`linux')dnl",
    "define(`confDOMAIN_NAME', `mta.relay-audit.test')dnl",
    `define(\`confSERVICE_SWITCH_FILE', \`${e}/service.switch')dnl`,
    `define(\`confHOSTS_FILE', \`${e}/hosts')dnl`,
    "define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl",
    "define(`confDONT_PROBE_INTERFACES', `True')dnl",
    "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl",
    "define(`confDELIVERY_MODE', `queueonly')dnl",
    "define(`confREFUSE_LA', `999')dnl",
    "define(`confQUEUE_LA', `999')dnl",
    "define(`confTO_IDENT', `0s')dnl",
    `define(\`QUEUE_DIR', \`${dir}/mqueue')dnl`,
    `define(\`confPID_FILE', \`${dir}/run/sendmail.pid')dnl`,
    `define(\`STATUS_FILE', \`${dir}/run/statistics')dnl`,
    `define(\`ALIAS_FILE', \`${e}/aliases')dnl`,
    `define(\`confCW_FILE', \`${e}/local-host-names')dnl`,
    `define(\`confCR_FILE', \`${e}/relay-domains')dnl`,
    `define(\`confHELP_FILE', \`${e}/helpfile')dnl`,
    "define(`confPRIVACY_FLAGS', `authwarnings,novrfy,noexpn')dnl",
    "FEATURE(`no_default_msa')dnl",
    "FEATURE(`nocanonify')dnl",
    "FEATURE(`accept_unresolvable_domains')dnl",
    ...s.features.map((f) => `FEATURE(\`${f}')dnl`),
    `FEATURE(\`access_db', \`hash -T<TMPF> ${e}/access')dnl`,
    `DAEMON_OPTIONS(\`Family=inet, Name=MTA, Port=${s.port}, Addr=${s.proxyPort === undefined ? MTA : '127.0.0.1'}')dnl`,
    ...(s.msaPort === undefined ? [] : [`DAEMON_OPTIONS(\`Family=inet, Name=MSA, Port=${s.msaPort}, Addr=${MTA}, M=Ea')dnl`]),
    "MAILER(`local')dnl",
    "MAILER(`smtp')dnl",
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs argv in a private mount namespace whose resolver files are this scenario's own copies. */
function wrapper(dir: string): string {
  const path = join(dir, 'lo-only');
  writeFileSync(
    path,
    `#!/bin/sh
# loopback-only resolver files for one test sendmail: $1 is the directory holding them
exec unshare -m --propagation private sh -c 'for f in resolv.conf hosts nsswitch.conf; do mount --bind "$0/$f" "/etc/$f" || exit 1; done; exec "$@"' "$@"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: MTA, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('data', (d: Buffer) => done(d.toString().startsWith('220')));
    s.once('error', () => done(false));
  });
}

/** The forwarder in the MTA namespace (`ip netns exec` execs node: its pid is node's); it also exits when our pipe closes. */
async function startForwarder(listenPort: number, targetPort: number): Promise<ChildProcess> {
  const child = spawn(
    'ip',
    ['netns', 'exec', NETNS, process.execPath, FORWARDER, MTA, String(listenPort), '127.0.0.1', String(targetPort)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  daemons.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the TCP forwarder did not listen on ${MTA}:${listenPort} within 10 s`)), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the TCP forwarder exited (${String(code)}) before listening on ${MTA}:${listenPort}`));
    });
  });
  return child;
}

async function startScenario(s: Scenario): Promise<void> {
  for (const port of [reach(s), ...(s.msaPort === undefined ? [] : [s.msaPort])]) {
    if (await greets(port)) throw new Error(`${MTA}:${port} is already taken; pick another port for scenario ${s.name}`);
  }
  const dir = join(root, s.name);
  const e = join(dir, 'etc');
  for (const d of [e, join(dir, 'run'), join(dir, 'mqueue')]) mkdirSync(d, { recursive: true });
  chmodSync(join(dir, 'mqueue'), 0o700);
  writeFileSync(join(e, 'hosts'), HOSTS);
  writeFileSync(join(e, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  writeFileSync(
    join(e, 'nsswitch.conf'),
    'passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nservices: files\nprotocols: files\n',
  );
  // MX lookups need "dns" in the switch (sendmail skips the name server otherwise); files stay first
  const hostsSwitch = s.features.includes('relay_based_on_MX') ? 'files dns' : 'files';
  writeFileSync(join(e, 'service.switch'), `hosts\t${hostsSwitch}\naliases\tfiles\npasswd\tfiles\n`);
  writeFileSync(join(e, 'aliases'), 'postmaster: root\nMAILER-DAEMON: postmaster\n');
  writeFileSync(join(e, 'local-host-names'), 'mta.relay-audit.test\n');
  writeFileSync(join(e, 'helpfile'), '');
  writeFileSync(join(e, 'relay-domains'), s.relayDomains);
  writeFileSync(join(e, 'access'), s.access);
  writeFileSync(join(e, 'sendmail.mc'), mc(s, dir));
  const { stdout: cf } = await run('m4', [join(e, 'sendmail.mc')], { timeout: 10_000, maxBuffer: 4 << 20 });
  writeFileSync(join(e, 'sendmail.cf'), cf);
  const lo = wrapper(dir);
  const access = readFileSync(join(e, 'access'));
  await new Promise<void>((resolve, reject) => {
    const p = spawn(lo, [e, 'makemap', 'hash', join(e, 'access')], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`makemap failed: ${err}`))));
    p.stdin.end(access);
  });
  await run(lo, [e, '/usr/sbin/sendmail-mta', '-C', join(e, 'sendmail.cf'), '-bi'], { timeout: 10_000 });
  const daemon = spawn(
    'ip',
    ['netns', 'exec', NETNS, lo, e, '/usr/sbin/sendmail-mta', '-C', join(e, 'sendmail.cf'), '-bD', '-L', `sm-relay-audit-${s.name}`],
    { stdio: 'ignore' },
  );
  daemons.push(daemon);
  if (s.proxyPort !== undefined) await startForwarder(s.proxyPort, s.port);
  const deadline = Date.now() + 15_000;
  while (!(await greets(reach(s)))) {
    if (daemon.exitCode !== null || Date.now() > deadline)
      throw new Error(
        `the ${s.name} sendmail did not start on ${MTA}:${reach(s)}${s.proxyPort === undefined ? '' : ` (127.0.0.1:${s.port} behind the forwarder)`}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cli = (args: string[]): Promise<ToolRun> => runTool('relay-audit', args, { env: { HOME: root } });

const sshArgs = (): string[] => [
  '--vantage',
  `ssh://${env.sshd.user}@${env.sshd.vantage.host}:${env.sshd.vantage.port}`,
  '--ssh-key',
  env.sshd.privateKey,
  '--known-hosts',
  env.sshd.knownHosts,
];

interface ProbeJson {
  target: string;
  verdict: string;
  vantages: {
    vantage: string;
    seen_as: { name: string | null; address: string | null } | null;
    verdict: string;
    error?: string;
    ports: { port: number; tls: string; status: string }[];
    probes: { id: string; port: number; stage: string; class: string; code: number | null; text: string; rcpt_to: string }[];
  }[];
}

function probeArgs(s: Scenario, tests: string): string[] {
  return [
    'probe',
    '--target',
    `${MTA}:${reach(s)}`,
    '--source-ip',
    SRC21,
    '--source-ip',
    SRC22,
    ...sshArgs(),
    '--ext-domain',
    s.ext ?? EXT,
    '--tests',
    tests,
    '--per-connection',
    '8',
    '--json',
  ];
}

/** The scenario's files, as config and explain read them. */
function configFiles(s: Scenario): string[] {
  const e = join(root, s.name, 'etc');
  // --resolver is repeatable and asked in order: the first refuses (nothing on port 1), BIND answers
  return [
    '--mc',
    join(e, 'sendmail.mc'),
    '--cf',
    join(e, 'sendmail.cf'),
    '--access',
    join(e, 'access'),
    '--relay-domains',
    join(e, 'relay-domains'),
    '--local-host-names',
    join(e, 'local-host-names'),
    ...(s.features.includes('relay_based_on_MX')
      ? ['--resolver', '127.0.0.1:1', '--resolver', `${MTA}:${DNS_PORT}`]
      : ['--hosts', join(e, 'hosts')]),
  ];
}

function configArgs(s: Scenario): string[] {
  return ['config', ...configFiles(s), '--client', V1, '--client', SRC21, '--client', SRC22, '--ext-domain', s.ext ?? EXT, '--json'];
}

/** explain on a saved probe report; the external domain is the one the probes used. */
function explainArgs(s: Scenario, probeJson: string): string[] {
  const report = join(root, s.name, 'probe.json');
  writeFileSync(report, probeJson);
  return ['explain', '--report', report, ...configFiles(s)];
}

interface ExplainJson {
  agree: boolean;
  disagreements: number;
  vantages: {
    vantage: string;
    address: string | null;
    seen_as: { name: string | null; address: string | null } | null;
    observed: string;
    predicted: string | null;
    status: string;
    cause: string | null;
    message: string;
    client: { address: string; covered_by: { kind: string; from: string }[]; refused_by: { kind: string; from: string }[] } | null;
    seen: { address: string; relays: boolean; covered_by: { kind: string; from: string }[] } | null;
  }[];
}

/** `kind file:line` of what explain names for a vantage, files relative to the scenario's etc/. */
function named(s: Scenario, v: ExplainJson['vantages'][number]): string[] {
  const e = `${join(root, s.name, 'etc')}/`;
  return [...(v.client?.covered_by ?? []), ...(v.client?.refused_by ?? [])].map(
    (c) => `${c.kind} ${c.from.startsWith(e) ? c.from.slice(e.length) : c.from}`,
  );
}

/** A scenario's expected grants with `sendmail.mc:FEATURE` turned into that FEATURE's line. */
function expectedGrants(s: Scenario): Record<string, string[]> {
  const lines = mc(s, join(root, s.name)).split('\n');
  return Object.fromEntries(
    Object.entries(s.grants).map(([client, list]) => [
      client,
      list.map((g) =>
        g.replace(/sendmail\.mc:([A-Za-z_]+)$/, (_m, f: string) => {
          const line = lines.indexOf(`FEATURE(\`${f}')dnl`) + 1;
          if (line === 0) throw new Error(`scenario ${s.name} has no FEATURE(${f})`);
          return `sendmail.mc:${line}`;
        }),
      ),
    ]),
  );
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'relay-audit-it-'));
  await startNamed();
  await Promise.all([...SCENARIOS, PROXIED].map(startScenario));
}, 60_000);

afterAll(async () => {
  for (const d of daemons) if (d.exitCode === null) d.kill('SIGTERM'); // each its own pid: sendmail, named and the forwarder exec themselves
  await Promise.all(daemons.map((d) => (d.exitCode === null ? new Promise((r) => d.once('exit', r)) : Promise.resolve())));
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('relay-audit probe and config on real sendmail scenarios', () => {
  // the core forms on every scenario; the whole battery on the motivating hole below
  const CORE = 'nmap-01,nmap-12,local-first,ehlo-localhost/nmap-01';

  it.concurrent.each(SCENARIOS.map((s) => [s.name, s] as const))(
    '%s: config predicts exactly what probe observes from each vantage, and explain agrees, naming the grants the scenario configures',
    async (_name, s) => {
      const [probe, config] = await Promise.all([cli(probeArgs(s, CORE)), cli(configArgs(s))]);
      const report = JSON.parse(probe.stdout) as ProbeJson;
      expect(probe.stderr).toBe('');
      // each vantage is seen by the MTA at the address it was asked for
      const seen = Object.fromEntries(report.vantages.map((v) => [v.vantage, v.seen_as?.address]));
      expect(seen).toEqual({
        [SRC21]: SRC21,
        [SRC22]: SRC22,
        [`ssh://${env.sshd.user}@${env.sshd.vantage.host}:${env.sshd.vantage.port}`]: V1,
      });
      const observed = Object.fromEntries(report.vantages.map((v) => [v.seen_as?.address ?? v.vantage, v.verdict]));
      expect(observed).toEqual(s.expected);
      const anyOpen = Object.values(s.expected).includes('open');
      expect(report.verdict).toBe(anyOpen ? 'open' : 'closed');
      expect(probe.code).toBe(anyOpen ? 1 : 0);

      const audit = JSON.parse(config.stdout) as {
        predictions: { client: string; relays: boolean; why: string }[];
        findings: { code: string }[];
      };
      const predicted = Object.fromEntries(audit.predictions.map((p) => [p.client, p.relays ? 'open' : 'closed']));
      expect(predicted).toEqual(observed);
      expect(config.code).toBe(s.configExit);

      // explain joins the two: no disagreement, and it names exactly the grants this scenario configures
      const explain = await cli([...explainArgs(s, probe.stdout), '--json']);
      expect(explain.stderr).toBe('');
      const joined = JSON.parse(explain.stdout) as ExplainJson;
      expect(joined.vantages.map((v) => [v.seen_as?.address, v.status, v.observed, v.predicted])).toEqual(
        report.vantages.map((v) => [
          v.seen_as?.address,
          'agree',
          s.expected[v.seen_as?.address ?? ''],
          s.expected[v.seen_as?.address ?? ''],
        ]),
      );
      expect(joined).toMatchObject({ agree: true, disagreements: 0 });
      expect(Object.fromEntries(joined.vantages.map((v) => [v.address, named(s, v)]))).toEqual(expectedGrants(s));
      expect(explain.code).toBe(anyOpen ? 1 : 0);
    },
    60_000,
  );

  it('behind a TCP proxy: every vantage is seen as 127.0.0.1 and relays, config predicts closed, explain names the disagreement', async () => {
    const s = PROXIED;
    const [probe, config] = await Promise.all([cli(probeArgs(s, CORE)), cli(configArgs(s))]);
    expect(probe.stderr).toBe('');
    const report = JSON.parse(probe.stdout) as ProbeJson;
    const ssh = `ssh://${env.sshd.user}@${env.sshd.vantage.host}:${env.sshd.vantage.port}`;
    // through the forwarder the MTA sees only its own loopback, and loopback relays
    expect(Object.fromEntries(report.vantages.map((v) => [v.vantage, [v.seen_as?.address, v.verdict]]))).toEqual({
      [SRC21]: ['127.0.0.1', 'open'],
      [SRC22]: ['127.0.0.1', 'open'],
      [ssh]: ['127.0.0.1', 'open'],
    });
    expect(probe.code).toBe(1);
    // the files grant nothing beyond loopback: every vantage is predicted closed
    const audit = JSON.parse(config.stdout) as { predictions: { client: string; relays: boolean }[] };
    expect(Object.fromEntries(audit.predictions.map((p) => [p.client, p.relays ? 'open' : 'closed']))).toEqual(s.expected);
    expect(config.code).toBe(0);

    const access = join(root, s.name, 'etc', 'access');
    const text = await cli(explainArgs(s, probe.stdout));
    expect(text.stderr).toBe('');
    for (const [label, address] of [
      [SRC21, SRC21],
      [SRC22, SRC22],
      [ssh, V1],
    ] as const) {
      const who = label === address ? `vantage ${label}` : `vantage ${label} (${address})`;
      expect(text.stdout).toContain(
        `  DISAGREE: ${who} relays, but no grant covers it; the MTA saw it as 127.0.0.1 (localhost), which loopback 127.0.0.1/32 (sendmail (built in)), client-ip 127.0.0.1/32 (${access}:1) cover\n`,
      );
    }
    expect(text.stdout).toContain(
      'likely cause: a proxy, NAT or container port mapping in front of the MTA makes outside connections look local',
    );
    expect(text.stdout.split('\n')[0]).toBe(
      `target ${MTA}:${reach(s)}, to ${EXT}: open; observation and config DISAGREE for 3 of 3 vantages`,
    );
    expect(text.code).toBe(1);

    const joined = JSON.parse((await cli([...explainArgs(s, probe.stdout), '--json'])).stdout) as ExplainJson;
    expect(joined).toMatchObject({ agree: false, disagreements: 3 });
    expect(
      joined.vantages.map((v) => [
        v.address,
        v.observed,
        v.predicted,
        v.status,
        v.cause,
        v.seen_as?.address,
        v.seen?.relays,
        v.client?.covered_by,
      ]),
    ).toEqual([SRC21, SRC22, V1].map((a) => [a, 'open', 'closed', 'disagree', 'address-translated', '127.0.0.1', true, []]));
  }, 60_000);

  it('hole: the whole battery (RSET between probes on shared connections) on the MTA and submission ports, the findings and the fix they name', async () => {
    const s = SCENARIOS.find((x) => x.name === 'hole');
    if (!s) throw new Error('no hole scenario');
    if (s.msaPort === undefined) throw new Error('the hole scenario has an MSA port');
    const probe = await cli([
      'probe',
      '--target',
      `${MTA}:${s.port}`,
      '--source-ip',
      SRC22,
      ...sshArgs(),
      '--ext-domain',
      EXT,
      '--per-connection',
      '16',
      '--submission-ports',
      `${s.msaPort},587,465/tls`,
      '--json',
    ]);
    const report = JSON.parse(probe.stdout) as ProbeJson;
    expect(probe.stderr).toBe('');
    // the submission ports: the MSA greets and gets the battery; nothing listens on 587 or 465 here (noted, not an error)
    for (const v of report.vantages) {
      expect(v.ports.map((p) => [p.port, p.tls, p.status])).toEqual([
        [s.port, 'none', 'probed'],
        [s.msaPort, 'none', 'probed'],
        [587, 'none', 'closed'],
        [465, 'implicit', 'closed'],
      ]);
      const onMsa = v.probes.filter((p) => p.port === s.msaPort);
      expect(onMsa.length).toBe(v.probes.filter((p) => p.port === s.port).length);
      // without AUTH the MSA takes no mail at all, from the vantage that relays on port 25 too
      expect(new Set(onMsa.map((p) => p.class))).toEqual(new Set(['NEEDS_AUTH']));
      expect(onMsa.find((p) => p.id === 'nmap-01')).toMatchObject({ stage: 'MAIL', code: 530 });
    }
    const v1 = report.vantages.find((v) => v.seen_as?.address === V1);
    const src22 = report.vantages.find((v) => v.seen_as?.address === SRC22);
    expect(v1?.seen_as?.name).toBe('v1.partner.test');
    expect(v1?.probes.length).toBeGreaterThanOrEqual(40);
    expect(v1?.probes.find((p) => p.id === 'nmap-01')).toMatchObject({
      class: 'ACCEPTED_RCPT',
      code: 250,
      text: `250 2.1.5 <relaytest@${EXT}>... Recipient ok`,
    });
    expect(src22?.probes.find((p) => p.id === 'nmap-01')).toMatchObject({
      class: 'DENIED',
      code: 550,
      text: `550 5.7.1 <relaytest@${EXT}>... Relaying denied`,
    });
    // no probe of the battery gets through from a vantage the policy refuses
    expect(src22?.probes.filter((p) => p.class === 'ACCEPTED_RCPT' || p.class === 'ACCEPTED_DATA').map((p) => p.id)).toEqual([]);
    expect(src22?.verdict).toBe('closed');

    const config = await cli(configArgs(s).filter((a) => a !== '--json'));
    expect(config.code).toBe(1);
    expect(config.stdout).toContain(
      `NAME_GRANT_SUFFIX [high] every host whose DNS name lies inside partner.test may relay (no FEATURE(relay_hosts_only)) (${join(root, 'hole', 'etc', 'relay-domains')}:1)`,
    );
    expect(config.stdout).toContain("fix: add FEATURE(`relay_hosts_only') to the .mc");
    expect(config.stdout).toContain(`fix: add Connect:${SRC21} REJECT to the access file, or remove partner.test`);
    expect(config.stdout).toContain(`client ${V1} (v1.partner.test): RELAYS — name v1.partner.test matches partner.test`);
  }, 60_000);

  it('agrees with nmap smtp-open-relay and swaks on the motivating hole, vantage by vantage', async () => {
    const s = SCENARIOS.find((x) => x.name === 'hole');
    if (!s) throw new Error('no hole scenario');
    const ours = JSON.parse(
      (
        await cli([
          'probe',
          '--target',
          `${MTA}:${s.port}`,
          '--source-ip',
          SRC21,
          '--source-ip',
          SRC22,
          '--ext-domain',
          EXT,
          '--tests',
          'nmap-*',
          '--json',
        ])
      ).stdout,
    ) as ProbeJson;
    const verdicts: Record<string, { ours: string; nmap: string; swaks: string }> = {};
    for (const src of [SRC21, SRC22]) {
      const nmap = await run(
        'nmap',
        [
          '-n',
          '-Pn',
          '-sT',
          '-p',
          String(s.port),
          '-S',
          src,
          '-e',
          env.network.bridge,
          '--script',
          '+smtp-open-relay',
          '--script-args',
          `smtp-open-relay.domain=${EXT},smtp-open-relay.ip=${MTA}`,
          MTA,
        ],
        { timeout: 30_000 },
      );
      const swaks = await run(
        'swaks',
        [
          '--server',
          `${MTA}:${s.port}`,
          '--local-interface',
          src,
          '--helo',
          'relay-audit.test',
          '--from',
          `antispam@${EXT}`,
          '--to',
          `relaytest@${EXT}`,
          '--quit-after',
          'RCPT',
          '--timeout',
          '5',
        ],
        { timeout: 30_000 },
      ).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
      const mine = ours.vantages.find((v) => v.vantage === src);
      // nmap's count of accepted forms must match ours on the same 16 forms
      const nmapCount = /open relay \((\d+)\/16 tests\)/.exec(nmap.stdout)?.[1] ?? '0';
      expect(mine?.probes.filter((p) => p.class === 'ACCEPTED_RCPT').length).toBe(Number(nmapCount));
      verdicts[src] = {
        ours: mine?.verdict ?? '?',
        nmap: /is an open relay/.test(nmap.stdout) ? 'open' : 'closed',
        swaks: swaks === 0 ? 'open' : swaks === 24 ? 'closed' : `exit ${swaks}`,
      };
    }
    expect(verdicts).toEqual({
      [SRC21]: { ours: 'open', nmap: 'open', swaks: 'open' },
      [SRC22]: { ours: 'closed', nmap: 'closed', swaks: 'closed' },
    });
  }, 60_000);

  it('a vantage that is down, or whose host key is wrong, is one line; the others are still probed', async () => {
    const s = SCENARIOS[0];
    if (!s) throw new Error('no scenario');
    const r = await cli([
      'probe',
      '--target',
      `${MTA}:${s.port}`,
      '--source-ip',
      SRC21,
      '--vantage',
      `ssh://root@${env.sshd.vantage.host}:${env.sshd.vantage.port}`,
      '--ssh-key',
      env.sshd.privateKey,
      '--host-key-fingerprint',
      'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '--ext-domain',
      EXT,
      '--tests',
      'nmap-01',
      '--json',
      '--timeout',
      '2s',
    ]);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^relay-audit: vantage ssh://root@${env.sshd.vantage.host.replace(/\./g, '\\.')}:22: .*host key`, 'i'),
    );
    const report = JSON.parse(r.stdout) as ProbeJson;
    expect(report.vantages.map((v) => [v.vantage, v.verdict])).toEqual([
      [SRC21, 'closed'],
      [`ssh://root@${env.sshd.vantage.host}:22`, 'inconclusive'],
    ]);
    expect(r.code).toBe(3);
  }, 30_000);
});
