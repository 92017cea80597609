/**
 * Runs the battery: per vantage, one greeting session (to record how the MTA sees the vantage), then
 * every probe on its own connection, with bounded concurrency per target. Stops at RCPT (RSET, QUIT)
 * unless a delivery mailbox is given.
 */
import { errorMessage } from '@toolbox/shared';
import type { Probe } from './battery.js';
import { classifyReply, overallVerdict, seenAs, verdictOf, type ProbeClass, type Stage, type Verdict } from './classify.js';
import { SmtpClient, type SmtpReply } from './smtp-client.js';
import type { Connector } from './vantage.js';

export interface ProbeResult {
  id: string;
  ehlo: string;
  mail_from: string;
  rcpt_to: string;
  stage: Stage;
  code: number | null;
  text: string;
  class: ProbeClass;
  /** The end-of-data reply with --deliver. */
  data?: { code: number | null; text: string };
}

export interface VantageResult {
  vantage: string;
  seen_as: { name: string | null; address: string | null; greeting: string } | null;
  verdict: Verdict;
  /** Why the vantage could not be probed at all (SSH down, no SMTP banner, …). */
  error?: string;
  probes: ProbeResult[];
}

export interface ProbeReport {
  target: string;
  verdict: Verdict;
  vantages: VantageResult[];
}

export interface RunOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** Connections open at once against the target, over all vantages. */
  concurrency: number;
  starttls: boolean;
  auth?: { user: string; password: string };
  /** Send DATA with a marked message (the recipient is then the user's mailbox). */
  deliver: boolean;
  /** Probes sent on one connection (RSET between); 1, the default, is a new connection per probe. */
  perConnection?: number;
  /** Our EHLO name for the greeting session. */
  ehloName: string;
  now: () => Date;
}

/** A counting semaphore: at most `n` tasks at once. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

function bracket(addr: string): string {
  return `<${addr}>`;
}

class StageError extends Error {
  constructor(
    readonly stage: Stage,
    readonly reply: SmtpReply | null,
    message: string,
  ) {
    super(message);
  }
}

async function expect2xx(stage: Stage, p: Promise<SmtpReply>): Promise<SmtpReply> {
  let r: SmtpReply;
  try {
    r = await p;
  } catch (err) {
    throw new StageError(stage, null, errorMessage(err));
  }
  if (!(r.code >= 200 && r.code < 400)) throw new StageError(stage, r, r.text);
  return r;
}

/** Connects, reads the banner, EHLO (HELO when EHLO is refused), STARTTLS and AUTH as asked. */
async function open(connector: Connector, ehlo: string, o: RunOptions): Promise<{ smtp: SmtpClient; ehloReply: SmtpReply; banner: SmtpReply }> {
  let stream;
  try {
    stream = await connector.connect(o.host, o.port, o.timeoutMs);
  } catch (err) {
    throw new StageError('CONNECT', null, errorMessage(err));
  }
  const smtp = new SmtpClient(stream, o.timeoutMs);
  try {
    const banner = await smtp.reply().catch((err: unknown) => {
      throw new StageError('CONNECT', null, `no SMTP greeting: ${errorMessage(err)}`);
    });
    if (!Number.isFinite(banner.code)) throw new StageError('CONNECT', null, `the banner is not an SMTP greeting: ${JSON.stringify(banner.text.slice(0, 80))}`);
    if (banner.code !== 220) throw new StageError('CONNECT', banner, banner.text);
    let ehloReply = await smtp.command(`EHLO ${ehlo}`).catch((err: unknown) => {
      throw new StageError('EHLO', null, errorMessage(err));
    });
    if (ehloReply.code >= 500) ehloReply = await expect2xx('EHLO', smtp.command(`HELO ${ehlo}`));
    else if (ehloReply.code !== 250) throw new StageError('EHLO', ehloReply, ehloReply.text);
    if (o.starttls) {
      await expect2xx('EHLO', smtp.command('STARTTLS'));
      await smtp.startTls(o.host);
      ehloReply = await expect2xx('EHLO', smtp.command(`EHLO ${ehlo}`));
    }
    if (o.auth) {
      const token = Buffer.from(`\0${o.auth.user}\0${o.auth.password}`).toString('base64');
      await expect2xx('EHLO', smtp.command(`AUTH PLAIN ${token}`));
    }
    return { smtp, ehloReply, banner };
  } catch (err) {
    smtp.close();
    throw err;
  }
}

function marked(probe: Probe, vantage: string, when: Date): string {
  return [
    `From: <${probe.mailFrom}>`,
    `To: <${probe.rcptTo}>`,
    `Subject: relay-audit test message (${probe.id} from ${vantage})`,
    `Date: ${when.toUTCString()}`,
    'X-Relay-Audit: test',
    '',
    `relay-audit delivered this through an open relay path: probe ${probe.id}, vantage ${vantage}.`,
  ].join('\r\n');
}

/** Attempts for a probe whose connection was lost before its RCPT reply (a throttle, a busy server). */
const ATTEMPTS = 3;

function failure(probe: Probe, err: unknown): ProbeResult {
  const base = { id: probe.id, ehlo: probe.ehlo, mail_from: probe.mailFrom, rcpt_to: probe.rcptTo };
  if (err instanceof StageError) {
    const code = err.reply?.code ?? null;
    const finite = code !== null && Number.isFinite(code);
    return { ...base, stage: err.stage, code: finite ? code : null, text: err.reply?.text ?? err.message, class: finite ? classifyReply(err.stage, code, err.reply?.text ?? '') : 'CONN_LOST' };
  }
  return { ...base, stage: 'CONNECT', code: null, text: errorMessage(err), class: 'CONN_LOST' };
}

/** One MAIL/RCPT transaction on an open session, ended by RSET. Throws StageError when the connection is lost. */
async function transact(smtp: SmtpClient, probe: Probe, label: string, o: RunOptions): Promise<ProbeResult> {
  const base = { id: probe.id, ehlo: probe.ehlo, mail_from: probe.mailFrom, rcpt_to: probe.rcptTo };
  const step = (stage: Stage, line: string): Promise<SmtpReply> =>
    smtp.command(line).catch((err: unknown) => {
      throw new StageError(stage, null, errorMessage(err));
    });
  const mail = await step('MAIL', `MAIL FROM:${bracket(probe.mailFrom)}`);
  if (mail.code === 421) throw new StageError('MAIL', mail, mail.text);
  let result: ProbeResult;
  if (mail.code >= 300) {
    result = { ...base, stage: 'MAIL', code: mail.code, text: mail.text, class: classifyReply('MAIL', mail.code, mail.text) };
  } else {
    if (probe.localFirst !== undefined) await step('RCPT', `RCPT TO:<${probe.localFirst}>`);
    const rcpt = await step('RCPT', `RCPT TO:${bracket(probe.rcptTo)}`);
    if (rcpt.code === 421) throw new StageError('RCPT', rcpt, rcpt.text);
    result = { ...base, stage: 'RCPT', code: rcpt.code, text: rcpt.text, class: classifyReply('RCPT', rcpt.code, rcpt.text) };
    if (o.deliver && rcpt.code >= 200 && rcpt.code < 300) {
      const go = await step('DATA', 'DATA');
      if (go.code === 354) {
        const end = await smtp.data(marked(probe, label, o.now())).catch((err: unknown) => {
          throw new StageError('DATA', null, errorMessage(err));
        });
        result.data = { code: end.code, text: end.text };
        if (end.code >= 200 && end.code < 300) Object.assign(result, { stage: 'DATA', class: 'ACCEPTED_DATA' });
      } else {
        result.data = { code: go.code, text: go.text };
      }
    }
  }
  // the result is recorded; a server that drops at RSET only costs the next probe a reconnect
  await smtp.command('RSET').catch(() => undefined);
  return result;
}

/**
 * Runs probes that share an EHLO name, `perConnection` of them on one connection (1: a new
 * connection per probe), with RSET between. A connection lost before a probe's answer is
 * reopened and that probe tried again, so one throttle or drop does not hide later results.
 * Never throws: a failure is a class.
 */
export async function runProbes(connector: Connector, probes: readonly Probe[], o: RunOptions, perConnection = 1): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  let session: { smtp: SmtpClient; used: number } | null = null;
  for (const probe of probes) {
    let result: ProbeResult | null = null;
    for (let attempt = 1; result === null; attempt++) {
      try {
        if (session === null || session.used >= perConnection) {
          if (session) await session.smtp.quit();
          session = { smtp: (await open(connector, probe.ehlo, o)).smtp, used: 0 };
        }
        session.used++;
        result = await transact(session.smtp, probe, connector.label, o);
      } catch (err) {
        session?.smtp.close();
        session = null;
        const refusedAtConnect = err instanceof StageError && err.reply !== null && Number.isFinite(err.reply.code) && err.reply.code !== 421;
        if (attempt >= ATTEMPTS || refusedAtConnect) result = failure(probe, err);
        else await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    results.push(result);
  }
  if (session) await session.smtp.quit();
  return results;
}

/** One probe on its own connection. */
export async function runProbe(connector: Connector, probe: Probe, o: RunOptions): Promise<ProbeResult> {
  const [r] = await runProbes(connector, [probe], o, 1);
  if (r === undefined) throw new Error('runProbes returned no result');
  return r;
}

/** The greeting session: how the MTA names the vantage ("Hello NAME [IP]"). */
export async function greet(connector: Connector, o: RunOptions): Promise<{ seen: NonNullable<VantageResult['seen_as']>; serverName: string }> {
  const { smtp, ehloReply, banner } = await open(connector, o.ehloName, o).catch((err: unknown) => {
    if (err instanceof StageError) throw new Error(`${o.host}:${o.port}: ${err.reply ? err.reply.text.split('\n')[0] : err.message}`);
    throw err;
  });
  await smtp.quit();
  const s = seenAs(ehloReply.text);
  const serverName = /^220[ -](\S+)/.exec(banner.text)?.[1] ?? o.host;
  return { seen: { name: s.name, address: s.address, greeting: s.text }, serverName };
}

export interface VantageRun {
  label: string;
  /** Opens the vantage; a rejection (SSH down, wrong host key) marks only this vantage. */
  open(): Promise<Connector>;
}

/** Every vantage, every probe; vantages that fail do not stop the others. */
export async function runBattery(
  target: string,
  vantages: readonly VantageRun[],
  probesFor: (serverName: string) => Probe[],
  o: RunOptions,
  onVantageError: (label: string, message: string) => void,
): Promise<ProbeReport> {
  const limit = limiter(o.concurrency);
  const results = await Promise.all(
    vantages.map(async (v): Promise<VantageResult> => {
      let connector: Connector | null = null;
      try {
        connector = await v.open();
        const c = connector;
        const { seen, serverName } = await limit(() => greet(c, o));
        const probes = probesFor(serverName);
        const per = Math.max(1, o.perConnection ?? 1);
        // chunks of probes that share an EHLO name; each chunk is one connection's worth
        const chunks: Probe[][] = [];
        for (const p of probes) {
          const last = chunks[chunks.length - 1];
          if (last && last.length < per && last[0]?.ehlo === p.ehlo) last.push(p);
          else chunks.push([p]);
        }
        const done = (await Promise.all(chunks.map((chunk) => limit(() => runProbes(c, chunk, o, per))))).flat();
        return { vantage: v.label, seen_as: seen, verdict: verdictOf(done.map((r) => r.class)), probes: done };
      } catch (err) {
        const message = errorMessage(err);
        onVantageError(v.label, message);
        return { vantage: v.label, seen_as: null, verdict: 'inconclusive', error: message, probes: [] };
      } finally {
        connector?.close();
      }
    }),
  );
  return { target, verdict: overallVerdict(results.map((r) => r.verdict)), vantages: results };
}
