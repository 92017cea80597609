/**
 * Runs the battery: per vantage and per port (the target's, then the submission ports that accept a
 * connection), one greeting session (to record how the MTA sees the vantage), then every probe on its
 * own connection, with bounded concurrency per target. Where the server advertises PIPELINING, a
 * probe's MAIL, RCPT and RSET/QUIT go in one write. Stops at RCPT (RSET, QUIT) unless a delivery
 * mailbox is given.
 */
import { errorMessage, limiter } from '@toolbox/shared';
import type { Probe } from './battery.js';
import { classifyReply, overallVerdict, seenAs, verdictOf, type ProbeClass, type Stage, type Verdict } from './classify.js';
import { SmtpClient, SmtpSecurityError, wrapTls, type SmtpReply, type TlsTarget } from './smtp-client.js';
import type { Connector } from './vantage.js';

export interface ProbeResult {
  id: string;
  /** The target port this probe used. */
  port: number;
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
  /** Each port tried from this vantage: the target's, then the submission ports. */
  ports: PortResult[];
  probes: ProbeResult[];
}

/** A port of the target as one vantage found it. */
export interface PortResult {
  port: number;
  tls: 'implicit' | 'none';
  /** `probed`: it greeted and the battery ran; `closed`: it did not accept a connection or did not greet (noted, not an error). */
  status: 'probed' | 'closed';
  note?: string;
}

/** A port to probe beside the target's own: 587 (submission), 465 (implicit TLS). */
export interface PortSpec {
  port: number;
  implicitTls: boolean;
}

export interface ProbeReport {
  target: string;
  /** The target's own port; probes on any other port are on a submission port. */
  port: number;
  verdict: Verdict;
  vantages: VantageResult[];
}

export interface RunOptions {
  host: string;
  port: number;
  /** TLS from the first byte (port 465), before the banner. */
  implicitTls?: boolean;
  /** Ports swept besides `port` when they accept a connection (injectable for tests). */
  submissionPorts?: readonly PortSpec[];
  timeoutMs: number;
  /** Connections open at once against the target, over all vantages. */
  concurrency: number;
  starttls: boolean;
  /** What the MTA's certificate is checked against (CA, name); `insecure` lets AUTH go over TLS that did not verify. */
  tls?: Omit<TlsTarget, 'host'> & { insecure?: boolean };
  /** Sent only inside TLS whose certificate verified (or with `tls.insecure`). */
  auth?: { user: string; password: string };
  /** Send DATA with a marked message (the recipient is then the user's mailbox). */
  deliver: boolean;
  /** Probes sent on one connection (RSET between); 1, the default, is a new connection per probe. */
  perConnection?: number;
  /** Our EHLO name for the greeting session. */
  ehloName: string;
  now: () => Date;
  /**
   * Set by the first SmtpSecurityError of a vantage (credentials refused, STARTTLS injection): every
   * later session of that vantage stops before it connects, and the vantage fails with that error.
   */
  halt?: { error: SmtpSecurityError | null };
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

/** A lost connection is a StageError; a security refusal stays what it is. */
function passSecurity(stage: Stage): (err: unknown) => never {
  return (err) => {
    if (err instanceof SmtpSecurityError) throw err;
    throw new StageError(stage, null, errorMessage(err));
  };
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
interface Session {
  smtp: SmtpClient;
  ehloReply: SmtpReply;
  banner: SmtpReply;
  /** The server advertised PIPELINING (RFC 2920) in its last EHLO reply. */
  pipelining: boolean;
}

async function open(connector: Connector, ehlo: string, o: RunOptions): Promise<Session> {
  if (o.halt?.error) throw o.halt.error;
  try {
    return await openSession(connector, ehlo, o);
  } catch (err) {
    if (!(err instanceof SmtpSecurityError)) throw err;
    const named = new SmtpSecurityError(`${o.host}:${o.port}: ${err.message}`);
    if (o.halt) o.halt.error ??= named;
    throw named;
  }
}

async function openSession(connector: Connector, ehlo: string, o: RunOptions): Promise<Session> {
  const tlsTarget: TlsTarget = {
    host: o.host,
    ...(o.tls?.name === undefined ? {} : { name: o.tls.name }),
    ...(o.tls?.ca === undefined ? {} : { ca: o.tls.ca }),
  };
  let stream;
  try {
    stream = await connector.connect(o.host, o.port, o.timeoutMs);
    if (o.implicitTls === true) {
      const raw = stream;
      stream = await wrapTls(raw, tlsTarget, o.timeoutMs).catch((err: unknown) => {
        raw.destroy();
        throw err;
      });
    }
  } catch (err) {
    throw new StageError('CONNECT', null, errorMessage(err));
  }
  const smtp = new SmtpClient(stream, o.timeoutMs);
  try {
    const banner = await smtp.reply().catch((err: unknown) => {
      throw new StageError('CONNECT', null, `no SMTP greeting: ${errorMessage(err)}`);
    });
    if (!Number.isFinite(banner.code))
      throw new StageError('CONNECT', null, `the banner is not an SMTP greeting: ${JSON.stringify(banner.text.slice(0, 80))}`);
    if (banner.code !== 220) throw new StageError('CONNECT', banner, banner.text);
    let ehloReply = await smtp.command(`EHLO ${ehlo}`).catch((err: unknown) => {
      throw new StageError('EHLO', null, errorMessage(err));
    });
    if (ehloReply.code >= 500) ehloReply = await expect2xx('EHLO', smtp.command(`HELO ${ehlo}`));
    else if (ehloReply.code !== 250) throw new StageError('EHLO', ehloReply, ehloReply.text);
    // on an implicit-TLS port the session is in TLS already
    if (o.starttls && o.implicitTls !== true) {
      const go = await smtp.startTls(tlsTarget).catch(passSecurity('EHLO'));
      if (go.code !== 220) throw new StageError('EHLO', go, go.text);
      ehloReply = await expect2xx('EHLO', smtp.command(`EHLO ${ehlo}`));
    }
    if (o.auth) {
      const r = await smtp
        .authPlain(o.auth.user, o.auth.password, { allowUnverified: o.tls?.insecure === true })
        .catch(passSecurity('EHLO'));
      if (!(r.code >= 200 && r.code < 400)) throw new StageError('EHLO', r, r.text);
    }
    return { smtp, ehloReply, banner, pipelining: /^250[- ]PIPELINING\s*$/im.test(ehloReply.text) };
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

function baseOf(probe: Probe, o: RunOptions): Pick<ProbeResult, 'id' | 'port' | 'ehlo' | 'mail_from' | 'rcpt_to'> {
  return { id: probe.id, port: o.port, ehlo: probe.ehlo, mail_from: probe.mailFrom, rcpt_to: probe.rcptTo };
}

function failure(probe: Probe, err: unknown, o: RunOptions): ProbeResult {
  const base = baseOf(probe, o);
  if (err instanceof StageError) {
    const code = err.reply?.code ?? null;
    const finite = code !== null && Number.isFinite(code);
    return {
      ...base,
      stage: err.stage,
      code: finite ? code : null,
      text: err.reply?.text ?? err.message,
      class: finite ? classifyReply(err.stage, code, err.reply?.text ?? '') : 'CONN_LOST',
    };
  }
  return { ...base, stage: 'CONNECT', code: null, text: errorMessage(err), class: 'CONN_LOST' };
}

/**
 * One MAIL/RCPT transaction on an open session. Not the last on its connection: ended by RSET. The
 * last: followed by QUIT, in the same write when the server pipelines and nothing is delivered.
 * Throws StageError when the connection is lost before the answer.
 */
async function transact(session: Session, probe: Probe, label: string, o: RunOptions, isLast: boolean): Promise<ProbeResult> {
  const { smtp } = session;
  const base = baseOf(probe, o);
  const lost =
    (stage: Stage) =>
    (err: unknown): never => {
      throw new StageError(stage, null, errorMessage(err));
    };
  const rcptLines = [...(probe.localFirst === undefined ? [] : [`RCPT TO:<${probe.localFirst}>`]), `RCPT TO:${bracket(probe.rcptTo)}`];
  const mailLine = `MAIL FROM:${bracket(probe.mailFrom)}`;
  let mailReply: Promise<SmtpReply>;
  let rcptReplies: Promise<SmtpReply>[] | null = null;
  let ended = false;
  if (session.pipelining) {
    // RFC 2920: MAIL and RCPT may stand inside a group; QUIT may end one. DATA needs the RCPT answer first.
    const tail = o.deliver ? [] : isLast ? ['QUIT'] : ['RSET'];
    const replies = smtp.pipeline([mailLine, ...rcptLines, ...tail]);
    mailReply = replies[0] ?? Promise.reject(new Error('no reply'));
    rcptReplies = replies.slice(1, 1 + rcptLines.length);
    ended = tail.length > 0;
  } else {
    mailReply = smtp.command(mailLine);
  }
  const mail = await mailReply.catch(lost('MAIL'));
  if (mail.code === 421) throw new StageError('MAIL', mail, mail.text);
  let result: ProbeResult;
  if (mail.code >= 300) {
    // a pipelined RCPT after a refused MAIL only says "need MAIL": the MAIL answer is the result
    result = { ...base, stage: 'MAIL', code: mail.code, text: mail.text, class: classifyReply('MAIL', mail.code, mail.text) };
  } else {
    let rcpt: SmtpReply | undefined;
    for (const [i, line] of rcptLines.entries()) {
      rcpt = await (rcptReplies?.[i] ?? smtp.command(line)).catch(lost('RCPT'));
    }
    if (rcpt === undefined) throw new Error('no RCPT sent');
    if (rcpt.code === 421) throw new StageError('RCPT', rcpt, rcpt.text);
    result = { ...base, stage: 'RCPT', code: rcpt.code, text: rcpt.text, class: classifyReply('RCPT', rcpt.code, rcpt.text) };
    if (o.deliver && rcpt.code >= 200 && rcpt.code < 300) {
      const go = await smtp.command('DATA').catch(lost('DATA'));
      if (go.code === 354) {
        const end = await smtp.data(marked(probe, label, o.now())).catch(lost('DATA'));
        result.data = { code: end.code, text: end.text };
        if (end.code >= 200 && end.code < 300) Object.assign(result, { stage: 'DATA', class: 'ACCEPTED_DATA' });
      } else {
        result.data = { code: go.code, text: go.text };
      }
    }
  }
  // the result is recorded; a server that drops at RSET only costs the next probe a reconnect.
  // The last probe's QUIT is sent by the caller (or went in the group above) and never waited for.
  if (!ended && !isLast) await smtp.command('RSET').catch(() => undefined);
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
  let session: (Session & { used: number }) | null = null;
  for (const [index, probe] of probes.entries()) {
    let result: ProbeResult | null = null;
    for (let attempt = 1; result === null; attempt++) {
      try {
        if (session === null || session.used >= perConnection) {
          if (session) await session.smtp.quit();
          session = { ...(await open(connector, probe.ehlo, o)), used: 0 };
        }
        session.used++;
        const isLast = session.used >= perConnection || index === probes.length - 1;
        result = await transact(session, probe, connector.label, o, isLast);
        if (isLast) {
          await session.smtp.quit();
          session = null;
        }
      } catch (err) {
        session?.smtp.close();
        session = null;
        const refusedAtConnect =
          err instanceof StageError && err.reply !== null && Number.isFinite(err.reply.code) && err.reply.code !== 421;
        if (attempt >= ATTEMPTS || refusedAtConnect || err instanceof SmtpSecurityError) result = failure(probe, err, o);
        else await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    results.push(result);
  }
  if (session) await session.smtp.quit();
  return results;
}

/** The greeting session: how the MTA names the vantage ("Hello NAME [IP]"). */
export async function greet(
  connector: Connector,
  o: RunOptions,
): Promise<{ seen: NonNullable<VantageResult['seen_as']>; serverName: string }> {
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

/** Probes that share an EHLO name, `per` to a connection. */
function chunked(probes: readonly Probe[], per: number): Probe[][] {
  const chunks: Probe[][] = [];
  for (const p of probes) {
    const last = chunks[chunks.length - 1];
    if (last && last.length < per && last[0]?.ehlo === p.ehlo) last.push(p);
    else chunks.push([p]);
  }
  return chunks;
}

/**
 * Every vantage, every probe, on the target's port and on each submission port that greets;
 * vantages that fail do not stop the others, and a submission port that is closed is noted.
 */
export async function runBattery(
  target: string,
  vantages: readonly VantageRun[],
  probesFor: (serverName: string) => Probe[],
  o: RunOptions,
  onVantageError: (label: string, message: string) => void,
): Promise<ProbeReport> {
  const limit = limiter(o.concurrency);
  // the submission ports' first contact has slots of its own: a port that drops SYNs holds one for
  // the whole --timeout, and must not stall the probes meanwhile
  const limitPortChecks = limiter(o.concurrency);
  const per = Math.max(1, o.perConnection ?? 1);
  const main: PortSpec = { port: o.port, implicitTls: o.implicitTls ?? false };
  const extra = (o.submissionPorts ?? []).filter((p) => p.port !== o.port);
  const results = await Promise.all(
    vantages.map(async (v): Promise<VantageResult> => {
      let connector: Connector | null = null;
      const halt: NonNullable<RunOptions['halt']> = { error: null };
      try {
        connector = await v.open();
        const c = connector;
        const optsFor = (p: PortSpec): RunOptions => ({ ...o, port: p.port, implicitTls: p.implicitTls, halt });
        // the submission ports' greetings go at once with the target port's: a closed one costs no wait
        const extraGreetings = extra.map((p) =>
          limitPortChecks(() => greet(c, optsFor(p))).then(
            (): PortResult => ({ port: p.port, tls: p.implicitTls ? 'implicit' : 'none', status: 'probed' }),
            (err: unknown): PortResult => ({
              port: p.port,
              tls: p.implicitTls ? 'implicit' : 'none',
              status: 'closed',
              note: errorMessage(err).replace(`${o.host}:${p.port}: `, ''),
            }),
          ),
        );
        const { seen, serverName } = await limit(() => greet(c, optsFor(main)));
        const chunks = chunked(probesFor(serverName), per);
        const runAll = (p: PortSpec): Promise<ProbeResult[]> =>
          Promise.all(chunks.map((chunk) => limit(() => runProbes(c, chunk, optsFor(p), per)))).then((r) => r.flat());
        // the target's port does not wait for the submission ports' first contact, nor they for it
        const onMain = runAll(main);
        const onExtra = extraGreetings.map(async (g, i) => {
          const port = extra[i];
          return (await g).status === 'probed' && port !== undefined ? runAll(port) : [];
        });
        const done = [...(await onMain), ...(await Promise.all(onExtra)).flat()];
        const ports: PortResult[] = [
          { port: main.port, tls: main.implicitTls ? 'implicit' : 'none', status: 'probed' },
          ...(await Promise.all(extraGreetings)),
        ];
        // a refusal on any port (a submission port's greeting included) fails the whole vantage
        if (halt.error) throw halt.error;
        return { vantage: v.label, seen_as: seen, verdict: verdictOf(done.map((r) => r.class)), ports, probes: done };
      } catch (err) {
        const message = errorMessage(err);
        onVantageError(v.label, message);
        return { vantage: v.label, seen_as: null, verdict: 'inconclusive', error: message, ports: [], probes: [] };
      } finally {
        connector?.close();
      }
    }),
  );
  return { target, port: o.port, verdict: overallVerdict(results.map((r) => r.verdict)), vantages: results };
}
