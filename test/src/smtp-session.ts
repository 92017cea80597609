/**
 * A lock-step SMTP client over any duplex stream (a TCP socket, an SSH direct-tcpip channel, the
 * stdio of a helper inside a network namespace): send one command, read its whole reply.
 * sendmail answers commands sent before a reply with "554 SMTP protocol error", so no pipelining.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { SmtpReplyReader, type SmtpReply } from '@toolbox/shared/smtp-reply';

export type { SmtpReply };

export class SmtpSession {
  private readonly stream: Duplex;
  private readonly timeoutMs: number;
  /** The reader relay-audit's SMTP client uses: the same replies, malformed lines and limits. */
  private readonly reader = new SmtpReplyReader();
  private readonly replies: SmtpReply[] = [];
  private waiter: { resolve: (reply: SmtpReply) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(stream: Duplex, timeoutMs = 5_000) {
    this.stream = stream;
    this.timeoutMs = timeoutMs;
    stream.on('data', (chunk: Buffer | string) => this.onData(chunk));
    stream.on('error', (err: Error) => this.fail(err));
    stream.on('close', () => this.fail(new Error('the SMTP connection closed')));
  }

  /** The next reply from the server (the greeting first). */
  reply(): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no SMTP reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  /** Sends one command line and waits for its reply. */
  command(line: string): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) throw new Error(`an SMTP command is one line: ${JSON.stringify(line)}`);
    this.stream.write(`${line}\r\n`);
    return this.reply();
  }

  close(): void {
    this.stream.destroy();
  }

  private onData(chunk: Buffer | string): void {
    const { replies, error } = this.reader.push(chunk);
    for (const reply of replies) this.deliver(reply);
    if (error !== null) {
      this.fail(new Error(`the SMTP server sent ${error.message}`));
      this.stream.destroy();
    }
  }

  private deliver(reply: SmtpReply): void {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter) waiter.resolve(reply);
    else this.replies.push(reply);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(this.failure);
  }
}

/** A TCP connection from the root namespace, optionally from a given source address. */
export function connectTcp(host: string, port: number, localAddress?: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, ...(localAddress === undefined ? {} : { localAddress }) });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

// Runs inside the namespace: pipes its stdio to one TCP connection. Constant code; the
// destination comes in as argv, never spliced into the source.
const PIPE_SCRIPT = `
const net = require('node:net');
const [host, port, localAddress] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port), ...(localAddress ? { localAddress } : {}) });
socket.on('error', (err) => { process.stderr.write(err.message + '\\n'); process.exit(1); });
socket.on('close', () => process.exit(0));
process.stdin.pipe(socket);
socket.pipe(process.stdout);
`;

/**
 * A TCP connection made from inside network namespace `netns` (`ip netns exec`), as a duplex
 * over the stdio of a small node process there. Destroying the stream ends that process.
 */
export function connectTcpInNetns(netns: string, host: string, port: number, localAddress?: string): Duplex {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', PIPE_SCRIPT, host, String(port), localAddress ?? ''], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.on('exit', (code) => {
    if (code !== 0 && code !== null)
      stream.destroy(new Error(`ip netns exec ${netns}: connecting to ${host}:${port} failed (exit ${code}): ${stderr.trim()}`));
  });
  child.on('error', (err) => stream.destroy(err));
  stream.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return stream;
}
