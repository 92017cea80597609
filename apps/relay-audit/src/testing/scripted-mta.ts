/**
 * An in-process MTA for unit tests: smtp-server on 127.0.0.1:0 with a relay policy given as a
 * function, recording every envelope it saw. Also a "server" whose banner is not SMTP, and a raw
 * MTA whose every reply a test writes byte for byte (hostile text, data where none belongs).
 */
import net from 'node:net';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ScriptedMta {
  port: number;
  rcpts: string[];
  messages: string[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Command lines received, each with the number of the TCP read it arrived in (pipelined ones share one). */
  lines: { line: string; read: number }[];
  /** AUTH attempts, with whether the session was in TLS. */
  auths: { user: string; secure: boolean }[];
  close(): Promise<void>;
}

export type RcptPolicy = (rcpt: string, session: SMTPServerSession) => { code: number; message: string } | null;

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export interface ScriptedMtaOptions {
  dropOnRcpt?: boolean;
  /** AUTH PLAIN required (and STARTTLS offered); the server itself would take it in plain text. */
  auth?: { user: string; password: string };
  requireTls?: boolean;
  pipelining?: boolean;
  implicitTls?: boolean;
  /** The key and certificate for STARTTLS and implicit TLS (default: smtp-server's self-signed one). */
  tls?: { key: string; cert: string };
}

export async function startScriptedMta(policy: RcptPolicy, opts: ScriptedMtaOptions = {}): Promise<ScriptedMta> {
  const rcpts: string[] = [];
  const messages: string[] = [];
  const auths: { user: string; secure: boolean }[] = [];
  const offersStartTls = opts.requireTls === true || opts.auth !== undefined || opts.tls !== undefined;
  const server = new SMTPServer({
    name: 'mta.scripted.test',
    // PIPELINING is advertised unless a test asks for a lock-step server
    hidePIPELINING: opts.pipelining === false,
    // TLS from the first byte (port 465), with smtp-server's built-in self-signed certificate
    secure: opts.implicitTls === true,
    authOptional: opts.auth === undefined,
    allowInsecureAuth: true,
    authMethods: ['PLAIN'],
    // smtp-server's built-in self-signed certificate serves STARTTLS when it is enabled
    disabledCommands: [...(offersStartTls ? [] : ['STARTTLS']), ...(opts.auth === undefined ? ['AUTH'] : [])],
    ...(opts.tls ?? {}),
    onAuth(auth, session, cb) {
      auths.push({ user: auth.username ?? '', secure: session.secure });
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.password) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    logger: false,
    // smtp-server resolves the client's name through the system resolver otherwise: off the machine
    disableReverseLookup: true,
    onMailFrom(_address, session, cb) {
      cb(opts.requireTls && !session.secure ? smtpError(530, '5.7.0 Must issue a STARTTLS command first') : null);
    },
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: (err?: Error | null) => void) {
      rcpts.push(address.address);
      if (opts.dropOnRcpt) return; // the connection listener below has already dropped it
      const refusal = policy(address.address, session);
      cb(refusal === null ? null : smtpError(refusal.code, refusal.message));
    },
    onData(stream, _session, cb) {
      let text = '';
      stream.on('data', (d: Buffer) => (text += d.toString()));
      stream.on('end', () => {
        messages.push(text);
        cb(null);
      });
    },
  });
  const connections = new Set<net.Socket>();
  const lines: { line: string; read: number }[] = [];
  let reads = 0;
  let accepted = 0;
  server.server.on(opts.implicitTls === true ? 'secureConnection' : 'connection', (s: net.Socket) => {
    accepted++;
    s.on('data', (d: Buffer) => {
      reads++;
      for (const line of d
        .toString()
        .split('\r\n')
        .filter((l) => l !== ''))
        lines.push({ line, read: reads });
    });
    connections.add(s);
    s.on('close', () => connections.delete(s));
    if (opts.dropOnRcpt) {
      // smtp-server keeps no public handle on the socket: drop the connection on the first RCPT line
      s.on('data', (d: Buffer) => {
        if (/^RCPT/im.test(d.toString())) s.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  return {
    port,
    rcpts,
    messages,
    lines,
    auths,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of connections) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TCP server that greets with something that is not SMTP. */
export async function startNotSmtp(banner = 'SSH-2.0-OpenSSH_9.2\r\n'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write(banner);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One connection to the raw MTA, as its script sees it. */
export interface RawSession {
  /** Writes these bytes as they are, in one write. */
  write(text: string): void;
  /** Turns the server side to TLS; lines read after it come from inside TLS. */
  startTls(creds: { key: string; cert: string }): void;
  end(): void;
}

export interface RawMta {
  port: number;
  /** Every line received, with whether it came inside TLS. */
  lines: { line: string; tls: boolean }[];
  connections(): number;
  close(): Promise<void>;
}

/**
 * A raw MTA: writes `banner` on connect, then hands each line it reads to `script`, which writes
 * the reply itself (any bytes, in one write) through the session.
 */
export async function startRawMta(banner: string, script: (line: string, s: RawSession) => void): Promise<RawMta> {
  const lines: { line: string; tls: boolean }[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((raw) => {
    accepted++;
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => undefined);
    let current: net.Socket = raw;
    let isTls = false;
    let buffered = '';
    const onData = (d: Buffer): void => {
      buffered += d.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, end).replace(/\r$/, '');
        buffered = buffered.slice(end + 1);
        lines.push({ line, tls: isTls });
        script(line, session);
        if (current !== raw && !isTls) return;
      }
    };
    const session: RawSession = {
      write: (text) => void current.write(text),
      startTls(creds) {
        raw.off('data', onData);
        buffered = '';
        const secure = new tls.TLSSocket(raw, { isServer: true, ...creds });
        secure.on('error', () => undefined);
        current = secure;
        secure.once('secure', () => {
          isTls = true;
          secure.on('data', onData);
        });
      },
      end: () => void current.end(),
    };
    raw.on('data', onData);
    raw.write(banner);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    lines,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
