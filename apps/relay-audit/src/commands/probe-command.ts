/**
 * `relay-audit probe`: options → battery plan → runner → outputs (text/JSON, JUnit, state diff,
 * alert mail). The IO edge of the probe side.
 */
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { UserError, errorMessage, printable, sshAuthOptions, sshUsername, writeFileDurable, writeJson, type CliIo } from '@toolbox/shared';
import { buildBattery, selectProbes } from '../probe/battery.js';
import { runBattery, type PortSpec, type ProbeReport, type VantageRun } from '../probe/probe.js';
import { diffState, formatDiff, formatProbeText, parseState, stateOf, toJunit, type StateDiff } from '../report/report.js';
import { openConnector, parseVantages, type SshSettings } from '../probe/vantage.js';
import { parseSmtpUrl, sendAlert, type SmtpRelay } from '../report/alert.js';

export interface ProbeCommandOptions {
  target: string;
  vantage: string[];
  sourceIp: string[];
  extDomain?: string;
  from: string;
  ehlo: string[];
  starttls: boolean;
  auth?: string;
  tlsCa?: string;
  tlsName?: string;
  tlsInsecure?: boolean;
  /** Probe ids or globs, each possibly a comma-separated list. */
  tests?: string[];
  deliver?: string;
  json: boolean;
  junit?: string;
  state?: string;
  alertTo?: string;
  smtp?: string;
  smtpPasswordFile?: string;
  timeout: number;
  concurrency: number;
  perConnection: number;
  sshUser?: string;
  sshKey?: string;
  knownHosts?: string;
  hostKeyFingerprint?: string;
  viaDomain: string[];
  /** `PORT[/tls],…` or `none`, each possibly a list: submission ports swept besides the target's (default 587,465/tls). */
  submissionPorts?: string[];
}

/** The ports swept when --submission-ports is not given. */
export const DEFAULT_SUBMISSION_PORTS = '587,465/tls';

/** Exit code when no relay was found but some vantage or probe could not finish. */
export const EXIT_INCONCLUSIVE = 3;

/** `HOST[:PORT]`, `[IPv6]:PORT`; default port 25. */
export function parseTarget(value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(value);
  if (m === null || (m[1] ?? '') === '') throw new UserError('E_TARGET', `--target '${value}' is not HOST[:PORT]`);
  const port = m[2] === undefined ? 25 : Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw new UserError('E_TARGET', `--target '${value}': port ${port} is out of range 1..65535`);
  return { host: m[1] ?? '', port };
}

/** `587,465/tls` → port specs; `none` → no sweep. `/tls` is TLS from the first byte (RFC 8314). */
export function parsePortList(value: string): PortSpec[] {
  if (value.trim() === 'none') return [];
  return value.split(',').map((item) => {
    const m = /^\s*(\d+)(\/tls)?\s*$/.exec(item);
    const port = Number(m?.[1]);
    if (m === null || !(port >= 1 && port <= 65535))
      throw new UserError(
        'E_PORTS',
        `--submission-ports '${value}': '${item}' is not PORT or PORT/tls (1..65535), and 'none' turns the sweep off`,
      );
    return { port, implicitTls: m[2] !== undefined };
  });
}

async function readOptionFile(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError('E_OPTION_FILE', `${option} ${path}: ${errorMessage(err)}`);
  }
}

/** The alert relay and its credentials, checked before anything connects. */
async function alertRelay(
  opts: ProbeCommandOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ relay: SmtpRelay; password?: string; ca?: string } | undefined> {
  if (opts.smtp === undefined) {
    if (opts.smtpPasswordFile !== undefined)
      throw new UserError('E_ALERT', '--smtp-password-file is the password of the --smtp user: give --smtp smtp://USER@host:port too');
    return undefined;
  }
  const relay = parseSmtpUrl(opts.smtp);
  let password: string | undefined;
  if (opts.smtpPasswordFile !== undefined)
    password = (await readOptionFile(opts.smtpPasswordFile, '--smtp-password-file')).split(/\r?\n/)[0] ?? '';
  else if (env.RELAY_AUDIT_SMTP_PASSWORD !== undefined) password = env.RELAY_AUDIT_SMTP_PASSWORD;
  if (relay.user !== undefined && (password ?? '') === '') {
    throw new UserError(
      'E_ALERT',
      `--smtp names the user ${relay.user}: give the password in RELAY_AUDIT_SMTP_PASSWORD or a file named by --smtp-password-file`,
    );
  }
  if (relay.user === undefined && password !== undefined) {
    throw new UserError(
      'E_ALERT',
      `${opts.smtpPasswordFile === undefined ? 'RELAY_AUDIT_SMTP_PASSWORD is set' : '--smtp-password-file is given'} but --smtp names no user: smtp://USER@host:port`,
    );
  }
  const ca = relay.caFile === undefined ? undefined : await readOptionFile(relay.caFile, '--smtp ?ca=');
  return { relay, ...(password === undefined ? {} : { password }), ...(ca === undefined ? {} : { ca }) };
}

const RESERVED_TLDS = /\.(test|example|invalid|localhost)$|^(example\.(com|net|org))$/i;

export async function runProbeCommand(opts: ProbeCommandOptions, io: CliIo): Promise<ProbeReport> {
  const { host, port } = parseTarget(opts.target);
  const submissionPorts = parsePortList(opts.submissionPorts?.join(',') ?? DEFAULT_SUBMISSION_PORTS);
  if (net.isIP(host) === 0)
    throw new UserError(
      'E_TARGET',
      `--target '${opts.target}': give the MTA's IP address (the probe never resolves names, so it cannot reach a host you did not name)`,
    );
  let extDomain = opts.extDomain;
  let rcptLocal = 'relaytest';
  if (opts.deliver !== undefined) {
    const at = opts.deliver.lastIndexOf('@');
    if (at <= 0) throw new UserError('E_DELIVER', `--deliver '${opts.deliver}' is not a mailbox (local@domain)`);
    rcptLocal = opts.deliver.slice(0, at);
    extDomain = opts.deliver.slice(at + 1);
  }
  if (extDomain === undefined)
    throw new UserError(
      'E_EXT_DOMAIN',
      '--ext-domain is required: name an external domain you own or a reserved one (relay-check.example, anything under .test)',
    );
  if (opts.deliver === undefined && !RESERVED_TLDS.test(extDomain)) {
    throw new UserError(
      'E_EXT_DOMAIN',
      `--ext-domain '${extDomain}' is not reserved (.test, .example, .invalid): without --deliver the probes name only reserved domains, so no third party is ever addressed`,
    );
  }
  if (opts.alertTo !== undefined && opts.smtp === undefined)
    throw new UserError('E_ALERT', '--alert-to needs --smtp smtp://host:port to send through');
  const auth = opts.auth === undefined ? undefined : { user: opts.auth, password: io.env.RELAY_AUDIT_PASSWORD ?? '' };
  if (auth && auth.password === '')
    throw new UserError('E_AUTH', '--auth needs the password in the environment variable RELAY_AUDIT_PASSWORD (never on the command line)');
  // the target's own port 465 speaks TLS from the first byte too
  const implicitTls = port === 465 || submissionPorts.some((p) => p.port === port && p.implicitTls);
  const plainPorts = [
    ...(implicitTls ? [] : [port]),
    ...submissionPorts.filter((p) => !p.implicitTls && p.port !== port).map((p) => p.port),
  ];
  if (auth && !opts.starttls && plainPorts.length > 0) {
    throw new UserError(
      'E_AUTH_TLS',
      `--auth sends a password, and only inside TLS: add --starttls (${plainPorts.length === 1 ? 'port' : 'ports'} ${plainPorts.join(', ')} ${plainPorts.length === 1 ? 'does' : 'do'} not speak TLS from the first byte)`,
    );
  }
  const tlsCa = opts.tlsCa === undefined ? undefined : await readOptionFile(opts.tlsCa, '--tls-ca');
  const alert = await alertRelay(opts, io.env);

  const ehloName = opts.ehlo[0] ?? 'relay-audit.test';
  const specs = parseVantages(opts.vantage, opts.sourceIp, (url) => sshUsername(url, undefined, opts.sshUser, io.env));
  const probesFor = (serverName: string) =>
    selectProbes(
      buildBattery({
        serverName,
        serverIp: host,
        extDomain: extDomain ?? '',
        rcptLocal,
        fromLocal: opts.from,
        ehloName,
        extraEhlo: opts.ehlo.slice(1),
        viaDomains: opts.viaDomain,
      }),
      opts.tests?.join(','),
    );
  // a bad --tests list is a usage error before anything connects
  probesFor(host);
  const ssh: SshSettings = { ...sshAuthOptions(opts, io.env), timeoutMs: opts.timeout };
  const vantages: VantageRun[] = specs.map((s) => ({ label: s.label, open: () => openConnector(s, ssh) }));
  const now = new Date();
  const report = await runBattery(
    opts.target,
    vantages,
    probesFor,
    {
      host,
      port,
      implicitTls,
      submissionPorts,
      timeoutMs: opts.timeout,
      concurrency: opts.concurrency,
      perConnection: opts.perConnection,
      starttls: opts.starttls,
      tls: {
        ...(tlsCa === undefined ? {} : { ca: tlsCa }),
        ...(opts.tlsName === undefined ? {} : { name: opts.tlsName }),
        insecure: opts.tlsInsecure === true,
      },
      ...(auth ? { auth } : {}),
      deliver: opts.deliver !== undefined,
      ehloName,
      now: () => new Date(),
    },
    // remote text (a banner, a reply) reaches the terminal escaped
    (label, message) => io.stderr.write(`relay-audit: vantage ${printable(label)}: ${printable(message)}\n`),
  );

  let diff: StateDiff | undefined;
  if (opts.state !== undefined) {
    let before = null;
    try {
      before = parseState(await readFile(opts.state, 'utf8'), opts.state);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError('E_STATE', errorMessage(err));
    }
    const state = stateOf(report, now);
    diff = diffState(before, state);
    await writeFileDurable(opts.state, `${JSON.stringify(state, null, 2)}\n`);
  }
  if (opts.junit !== undefined) await writeFile(opts.junit, toJunit(report));
  if (opts.json) writeJson(io.stdout, diff === undefined ? report : { ...report, changes: diff });
  else {
    io.stdout.write(formatProbeText(report));
    if (diff) io.stdout.write(formatDiff(opts.target, diff));
  }
  if (opts.alertTo !== undefined && alert !== undefined) {
    const shouldMail =
      diff === undefined
        ? report.verdict === 'open'
        : diff.newlyOpen.length > 0 || (diff.verdict.before !== null && diff.verdict.before !== diff.verdict.now);
    if (shouldMail) {
      const subject = `relay-audit: ${opts.target} is ${report.verdict}${diff && diff.newlyOpen.length > 0 ? ` (${diff.newlyOpen.length} new open path${diff.newlyOpen.length === 1 ? '' : 's'})` : ''}`;
      const text = `${diff ? formatDiff(opts.target, diff) : ''}\n${formatProbeText(report)}`;
      await sendAlert({ ...alert, to: opts.alertTo, subject, text, timeoutMs: opts.timeout }).catch((err: unknown) => {
        throw new UserError(
          'E_ALERT',
          `could not send the alert to ${opts.alertTo ?? ''} through ${opts.smtp ?? ''}: ${printable(errorMessage(err))}`,
        );
      });
    }
  }
  io.setExitCode(report.verdict === 'open' ? 1 : report.verdict === 'inconclusive' ? EXIT_INCONCLUSIVE : 0);
  return report;
}
