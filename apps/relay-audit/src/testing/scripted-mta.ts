/**
 * An in-process MTA for unit tests: smtp-server on 127.0.0.1:0 with a relay policy given as a
 * function, recording every envelope it saw. Also a "server" whose banner is not SMTP.
 */
import net from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ScriptedMta {
  port: number;
  rcpts: string[];
  messages: string[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Command lines received, each with the number of the TCP read it arrived in (pipelined ones share one). */
  lines: { line: string; read: number }[];
  close(): Promise<void>;
}

export type RcptPolicy = (rcpt: string, session: SMTPServerSession) => { code: number; message: string } | null;

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startScriptedMta(policy: RcptPolicy, opts: { dropOnRcpt?: boolean; auth?: { user: string; password: string }; requireTls?: boolean; pipelining?: boolean; implicitTls?: boolean } = {}): Promise<ScriptedMta> {
  const rcpts: string[] = [];
  const messages: string[] = [];
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
    disabledCommands: [...(opts.requireTls ? [] : ['STARTTLS']), ...(opts.auth === undefined ? ['AUTH'] : [])],
    onAuth(auth, _session, cb) {
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
      for (const line of d.toString().split('\r\n').filter((l) => l !== '')) lines.push({ line, read: reads });
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
