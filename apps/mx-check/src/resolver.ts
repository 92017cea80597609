/**
 * A stub resolver over dns-packet: UDP with one connected socket per server and many queries in
 * flight on it (told apart by their IDs), TCP when the answer is
 * truncated, a timeout per attempt, retries across the configured servers, answers matched on the
 * server, the ID and the question (anything else is counted and ignored), and a dead-server
 * shortcut so that a resolver that never answers gives errors quickly instead of hanging.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';

export interface ServerAddr {
  host: string;
  port: number;
}

export function serverLabel(s: ServerAddr): string {
  return net.isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; null when it is none of these. */
export function parseServer(text: string): ServerAddr | null {
  const t = text.trim();
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  let host: string;
  let port = 53;
  if (bracket) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (net.isIPv6(t)) {
    host = t;
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(t);
    if (!m) return null;
    host = m[1] ?? '';
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65_535) return null;
  return { host, port };
}

/** The `nameserver` lines of a resolv.conf, in order (port 53; scoped IPv6 addresses dropped). */
export function parseResolvConf(text: string): ServerAddr[] {
  const out: ServerAddr[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line.replace(/[#;].*$/, ''));
    if (m?.[1] && net.isIP(m[1]) !== 0) out.push({ host: m[1], port: 53 });
  }
  return out;
}

export interface DnsResponse {
  rcode: string;
  answers: Answer[];
  authorities: Answer[];
  server: string;
  tcp: boolean;
}

export class DnsTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsTimeoutError';
  }
}

/** The query was not sent, or not sent again, because the run was interrupted. */
export class DnsInterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsInterruptedError';
  }
}

export interface ResolverOptions {
  servers: readonly ServerAddr[];
  /** Per attempt, ms. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /**
   * Once aborted, no new query and no new attempt is sent (they reject with DnsInterruptedError);
   * attempts already sent still take their answer until their timeout.
   */
  signal?: AbortSignal;
}

export interface ResolverStats {
  queries: number;
  attempts: number;
  tcpFallbacks: number;
  timeouts: number;
  /** Datagrams that did not decode as DNS. */
  garbage: number;
  /** Answers with an ID no query of ours was waiting for, or from an address we did not ask. */
  unexpected: number;
  /** Answers whose question was not the one asked. */
  mismatched: number;
  answered: number;
}

interface Pending {
  id: number;
  name: string;
  type: RecordType;
  servers: Set<string>;
  /** Garbage seen carrying this query's ID (for the error message). */
  garbage: number;
  resolve: (p: DecodedPacket, from: KnownServer) => void;
}

interface KnownServer {
  addr: ServerAddr;
  label: string;
}

interface ServerSocket extends KnownServer {
  socket: dgram.Socket;
  /** Until the socket is connected; null afterwards. */
  connecting: Promise<void> | null;
  /** connect() failed (no route to the server): attempts through it are lost, as on the wire. */
  isBroken: boolean;
}

const EDNS_PAYLOAD = 1232;

export class DnsResolver {
  readonly stats: ResolverStats = { queries: 0, attempts: 0, tcpFallbacks: 0, timeouts: 0, garbage: 0, unexpected: 0, mismatched: 0, answered: 0 };
  private readonly sockets = new Map<string, ServerSocket>();
  private readonly pending = new Map<number, Pending>();
  private readonly answeredBy = new Set<string>();
  private readonly deadServers = new Set<string>();
  private closed = false;

  private readonly servers: readonly KnownServer[];

  constructor(private readonly opts: ResolverOptions) {
    if (opts.servers.length === 0) throw new Error('DnsResolver needs at least one server');
    this.servers = opts.servers.map((addr) => ({ addr, label: serverLabel(addr) }));
  }

  get label(): string {
    return this.servers.map((s) => s.label).join(',');
  }

  /** Servers that never gave one valid answer while queries to them timed out. */
  get unanswering(): string[] {
    return [...this.deadServers];
  }

  /**
   * One question; resolves with any rcode the server gave, rejects with DnsTimeoutError, or with
   * DnsInterruptedError once the signal is aborted and no answer came.
   */
  async query(name: string, type: RecordType): Promise<DnsResponse> {
    this.throwIfInterrupted(name, type);
    this.stats.queries++;
    const alive = this.servers.filter((s) => !this.deadServers.has(s.label));
    if (alive.length === 0) {
      throw new DnsTimeoutError(`no answer from ${this.label} (earlier queries timed out; the resolver looks dead)`);
    }
    // the ID is taken now, for all attempts: another query must not pick it while this one waits
    const id = this.allocateId();
    const pending: Pending = { id, name, type, servers: new Set(), garbage: 0, resolve: () => undefined };
    this.pending.set(id, pending);
    let garbageSeen = 0;
    let tcpError = '';
    let last: DnsResponse | null = null;
    try {
      for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
        if (attempt > 0) this.throwIfInterrupted(name, type);
        const server = alive[attempt % alive.length] as KnownServer;
        const got = await this.udpAttempt(pending, server);
        garbageSeen = got.garbage;
        if (!got.packet) continue;
        let packet = got.packet;
        const from = got.from;
        let tcp = false;
        if ((packet.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) {
          this.throwIfInterrupted(name, type);
          this.stats.tcpFallbacks++;
          try {
            packet = await this.tcpQuery(name, type, from.addr);
            tcp = true;
          } catch (err) {
            tcpError = err instanceof Error ? err.message : String(err);
            continue;
          }
        }
        last = { rcode: (packet as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR', answers: packet.answers ?? [], authorities: packet.authorities ?? [], server: from.label, tcp };
        // a SERVFAIL or REFUSED may be one server's trouble: try again, keep it if nothing better comes
        if (last.rcode === 'SERVFAIL' || last.rcode === 'REFUSED') continue;
        return last;
      }
    } finally {
      this.pending.delete(id);
    }
    if (last) return last;
    // interrupted while waiting: the retries were cut short, so the silence is no verdict
    this.throwIfInterrupted(name, type);
    this.stats.timeouts++;
    for (const s of alive) if (!this.answeredBy.has(s.label)) this.deadServers.add(s.label);
    const extra = (garbageSeen > 0 ? `; ${garbageSeen} undecodable answer(s) ignored` : '') + (tcpError ? `; truncated over UDP, and over TCP: ${tcpError}` : '');
    throw new DnsTimeoutError(
      `no answer for ${name} ${type} from ${alive.map((s) => s.label).join(',')} in ${this.opts.retries + 1} attempt(s) of ${this.opts.timeoutMs} ms${extra}`,
    );
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
  }

  private throwIfInterrupted(name: string, type: RecordType): void {
    if (this.opts.signal?.aborted) throw new DnsInterruptedError(`${name} ${type} not asked: interrupted`);
  }

  private allocateId(): number {
    for (;;) {
      const id = Math.floor(Math.random() * 65_536);
      if (!this.pending.has(id)) return id;
    }
  }

  /**
   * One socket per server, connected: the kernel then skips the route lookup on every send and
   * hands us only that server's datagrams; hundreds of queries share it, told apart by their IDs.
   */
  private socket(server: KnownServer): ServerSocket {
    const s = this.sockets.get(server.label);
    if (s) return s;
    // a burst of answers to hundreds of queries in flight must not overflow the default ~200 KiB
    // buffer while the event loop is busy (the kernel caps this at net.core.rmem_max)
    const socket = dgram.createSocket({ type: net.isIPv6(server.addr.host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    const entry: ServerSocket = { ...server, socket, connecting: null, isBroken: false };
    socket.on('message', (msg) => this.onMessage(msg, entry));
    // a send error (no route, ICMP port unreachable) must not crash the process; the attempt times out instead
    socket.on('error', () => undefined);
    socket.unref();
    entry.connecting = new Promise<void>((resolve) => {
      const onConnectError = () => {
        // the next attempt tries to connect again
        entry.isBroken = true;
        entry.connecting = null;
        if (this.sockets.get(server.label) === entry) this.sockets.delete(server.label);
        socket.close();
        resolve();
      };
      socket.once('error', onConnectError);
      socket.connect(server.addr.port, server.addr.host, () => {
        socket.off('error', onConnectError);
        entry.connecting = null;
        resolve();
      });
    });
    this.sockets.set(server.label, entry);
    return entry;
  }

  private onMessage(msg: Buffer, via: ServerSocket): void {
    // the socket is connected: the kernel only hands over datagrams from its server
    const from = via.label;
    const id = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
    const p = this.pending.get(id);
    // the ID may be that of a query asked of another server
    if (!p || !p.servers.has(from)) {
      this.stats.unexpected++;
      return;
    }
    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(msg);
    } catch {
      this.stats.garbage++;
      p.garbage++;
      return;
    }
    const q = packet.questions?.[0];
    if (packet.type !== 'response' || !q || q.name.toLowerCase() !== p.name.toLowerCase() || q.type !== p.type) {
      this.stats.mismatched++;
      return;
    }
    this.stats.answered++;
    this.answeredBy.add(from);
    p.resolve(packet, via);
  }

  private async udpAttempt(entry: Pending, server: KnownServer): Promise<{ packet: DecodedPacket | null; from: KnownServer; garbage: number }> {
    if (this.closed) throw new Error('resolver closed');
    const via = this.socket(server);
    if (via.connecting) await via.connecting;
    if (this.closed) throw new Error('resolver closed');
    this.stats.attempts++;
    return new Promise((resolve) => {
      entry.servers.add(via.label);
      const timer = setTimeout(() => {
        entry.resolve = () => undefined;
        resolve({ packet: null, from: server, garbage: entry.garbage });
      }, this.opts.timeoutMs);
      entry.resolve = (packet, from) => {
        clearTimeout(timer);
        entry.resolve = () => undefined;
        resolve({ packet, from, garbage: entry.garbage });
      };
      if (!via.isBroken) via.socket.send(encodeQuery(entry.id, entry.name, entry.type));
    });
  }

  private tcpQuery(name: string, type: RecordType, server: ServerAddr): Promise<DecodedPacket> {
    const id = Math.floor(Math.random() * 65_536);
    return new Promise<DecodedPacket>((resolve, reject) => {
      const socket = net.connect({ host: server.host, port: server.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DnsTimeoutError(`no TCP answer for ${name} ${type} from ${serverLabel(server)} within ${this.opts.timeoutMs} ms`));
      }, this.opts.timeoutMs);
      let buf = Buffer.alloc(0);
      const done = (err: Error | null, p?: DecodedPacket) => {
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(p as DecodedPacket);
      };
      socket.on('error', (e) => done(e));
      socket.on('connect', () => socket.write(dnsPacket.streamEncode(queryPacket(id, name, type))));
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          let p: DecodedPacket;
          try {
            p = dnsPacket.decode(msg);
          } catch {
            this.stats.garbage++;
            done(new Error(`undecodable TCP answer from ${serverLabel(server)}`));
            return;
          }
          if (p.id !== id) {
            this.stats.unexpected++;
            continue;
          }
          done(null, p);
          return;
        }
      });
      socket.on('close', () => done(new Error(`TCP connection to ${serverLabel(server)} closed without an answer`)));
    });
  }
}

function queryPacket(id: number, name: string, type: RecordType): Packet {
  return {
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  };
}

function encodeQuery(id: number, name: string, type: RecordType): Buffer {
  return dnsPacket.encode(queryPacket(id, name, type));
}
