/**
 * A stub resolver over dns-packet: UDP from a pool of sockets on random ports (each replaced after a
 * bounded number of queries), many queries in flight, each under a random ID (node:crypto); TCP
 * when the answer is truncated; a timeout per attempt, retries across the configured servers; an
 * answer is taken only from the exact address and port asked, with the attempt's ID and our
 * question echoed (exactly, with 0x20 case randomisation) — anything else is counted and ignored
 * while the real answer is awaited; and a dead-server shortcut so that a resolver that never
 * answers gives errors quickly instead of hanging.
 */
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { checkAnswer, randomCase, type ExpectedAnswer } from './answer-check.js';
import { UdpSocketPool, type UdpSlot } from './udp-pool.js';
import { serverLabel, type ServerAddr } from '@toolbox/shared/cli';

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
  /**
   * DNS 0x20: each attempt's question name in random case, and an answer counts only when its
   * question echoes that case exactly (a server that does not preserve case then never answers).
   */
  randomCase?: boolean;
  /** UDP sockets taking queries at once (default 16) and queries each carries before it is replaced (default 64). */
  sockets?: { size?: number; maxQueriesPerSocket?: number };
}

export interface ResolverStats {
  queries: number;
  attempts: number;
  tcpFallbacks: number;
  timeouts: number;
  /** Datagrams too short to be DNS or that did not decode in full (truncated, garbage). */
  garbage: number;
  /** Answers with an ID no query was waiting for on the socket they came to (forged, or late). */
  unexpected: number;
  /** Answers with an awaited ID but from another address or port than the one asked (forged). */
  wrongSource: number;
  /** Answers whose question (name, type, class) was not the one asked, or that were no response. */
  mismatched: number;
  /** Of `mismatched`: the name differs in case only (a forger who cannot see the 0x20 case, or a server that does not keep it). */
  caseMismatched: number;
  answered: number;
  /** UDP sockets opened, each on a port the kernel chose at random. */
  sourcePorts: number;
}

/** Answers received and ignored: garbage, unknown IDs, wrong sources, wrong questions. */
export function rejectedAnswers(s: ResolverStats): number {
  return s.garbage + s.unexpected + s.wrongSource + s.mismatched;
}

interface KnownServer {
  addr: ServerAddr;
  /** The address as the kernel reports a datagram's source (compared exactly). */
  host: string;
  label: string;
}

interface Pending {
  name: string;
  type: RecordType;
  /** One per attempt sent: an answer to an earlier attempt still counts while the query waits. */
  slots: UdpSlot[];
  isSettled: boolean;
  /** Undecodable answers seen carrying one of this query's IDs (for the error message). */
  garbage: number;
  resolve: (p: DecodedPacket, from: KnownServer) => void;
}

/** What one attempt waits for on its socket. */
interface Attempt {
  pending: Pending;
  server: KnownServer;
  expected: ExpectedAnswer;
}

const EDNS_PAYLOAD = 1232;
const DEFAULT_POOL_SIZE = 16;
const DEFAULT_QUERIES_PER_SOCKET = 64;
// a burst of answers to the queries on one socket must not overflow its buffer while the event loop
// is busy (the kernel caps this at net.core.rmem_max)
const RECV_BUFFER = 1 << 20;

/** An address literal as the kernel writes it (`0:0::1` → `::1`), so that sources compare exactly. */
export function canonicalHost(host: string): string {
  if (host.includes('%')) return host;
  try {
    return new net.SocketAddress({ address: host, family: net.isIPv6(host) ? 'ipv6' : 'ipv4' }).address;
  } catch {
    return host;
  }
}

export class DnsResolver {
  readonly stats: ResolverStats = {
    queries: 0,
    attempts: 0,
    tcpFallbacks: 0,
    timeouts: 0,
    garbage: 0,
    unexpected: 0,
    wrongSource: 0,
    mismatched: 0,
    caseMismatched: 0,
    answered: 0,
    sourcePorts: 0,
  };
  private readonly pools = new Map<'udp4' | 'udp6', UdpSocketPool<Attempt>>();
  private readonly answeredBy = new Set<string>();
  private readonly deadServers = new Set<string>();
  private closed = false;

  private readonly servers: readonly KnownServer[];

  constructor(private readonly opts: ResolverOptions) {
    if (opts.servers.length === 0) throw new Error('DnsResolver needs at least one server');
    this.servers = opts.servers.map((addr) => ({ addr, host: canonicalHost(addr.host), label: serverLabel(addr) }));
  }

  get label(): string {
    return this.servers.map((s) => s.label).join(',');
  }

  /** Servers that never gave one valid answer while queries to them timed out. */
  get unanswering(): string[] {
    return [...this.deadServers];
  }

  /** Source ports of the UDP sockets open now (for tests). */
  get openPorts(): number[] {
    return [...this.pools.values()].flatMap((p) => p.ports);
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
    const pending: Pending = { name, type, slots: [], isSettled: false, garbage: 0, resolve: () => undefined };
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
            packet = await this.tcpQuery(name, type, from);
            tcp = true;
          } catch (err) {
            tcpError = err instanceof Error ? err.message : String(err);
            continue;
          }
        }
        last = {
          rcode: (packet as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR',
          answers: packet.answers ?? [],
          authorities: packet.authorities ?? [],
          server: from.label,
          tcp,
        };
        // a SERVFAIL or REFUSED may be one server's trouble: try again, keep it if nothing better comes
        if (last.rcode === 'SERVFAIL' || last.rcode === 'REFUSED') continue;
        return last;
      }
    } finally {
      pending.isSettled = true;
      for (const slot of pending.slots) slot.release();
    }
    if (last) return last;
    // interrupted while waiting: the retries were cut short, so the silence is no verdict
    this.throwIfInterrupted(name, type);
    this.stats.timeouts++;
    for (const s of alive) if (!this.answeredBy.has(s.label)) this.deadServers.add(s.label);
    const extra =
      (garbageSeen > 0 ? `; ${garbageSeen} undecodable answer(s) ignored` : '') +
      (tcpError ? `; truncated over UDP, and over TCP: ${tcpError}` : '');
    throw new DnsTimeoutError(
      `no answer for ${name} ${type} from ${alive.map((s) => s.label).join(',')} in ${this.opts.retries + 1} attempt(s) of ${this.opts.timeoutMs} ms${extra}`,
    );
  }

  close(): void {
    this.closed = true;
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }

  private throwIfInterrupted(name: string, type: RecordType): void {
    if (this.opts.signal?.aborted) throw new DnsInterruptedError(`${name} ${type} not asked: interrupted`);
  }

  private pool(server: KnownServer): UdpSocketPool<Attempt> {
    const family = net.isIPv6(server.host) ? 'udp6' : 'udp4';
    let pool = this.pools.get(family);
    if (!pool) {
      pool = new UdpSocketPool<Attempt>({
        family,
        size: this.opts.sockets?.size ?? DEFAULT_POOL_SIZE,
        maxUses: this.opts.sockets?.maxQueriesPerSocket ?? DEFAULT_QUERIES_PER_SOCKET,
        random: (n) => randomInt(n),
        recvBufferSize: RECV_BUFFER,
        onMessage: (msg, from, attempt) => this.onMessage(msg, from, attempt),
      });
      this.pools.set(family, pool);
    }
    return pool;
  }

  private onMessage(msg: Buffer, from: { address: string; port: number }, attempt: Attempt | undefined): void {
    // nothing waits under this ID on this socket, or the query already has its answer (a late one)
    if (!attempt || attempt.pending.isSettled) {
      this.stats.unexpected++;
      return;
    }
    const check = checkAnswer(msg, from, attempt.expected);
    switch (check.kind) {
      case 'ok':
        this.stats.answered++;
        this.answeredBy.add(attempt.server.label);
        attempt.pending.resolve(check.packet, attempt.server);
        return;
      case 'garbage':
        this.stats.garbage++;
        attempt.pending.garbage++;
        return;
      case 'wrong-id':
        this.stats.unexpected++;
        return;
      case 'wrong-source':
        this.stats.wrongSource++;
        return;
      case 'wrong-question':
        this.stats.mismatched++;
        if (check.isCaseOnly) this.stats.caseMismatched++;
        return;
    }
  }

  private async udpAttempt(
    pending: Pending,
    server: KnownServer,
  ): Promise<{ packet: DecodedPacket | null; from: KnownServer; garbage: number }> {
    if (this.closed) throw new Error('resolver closed');
    this.stats.attempts++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.resolve = () => undefined;
        resolve({ packet: null, from: server, garbage: pending.garbage });
      }, this.opts.timeoutMs);
      pending.resolve = (packet, from) => {
        clearTimeout(timer);
        pending.resolve = () => undefined;
        resolve({ packet, from, garbage: pending.garbage });
      };
      void this.send(pending, server);
    });
  }

  /** Sends one attempt from a pooled socket; a socket that cannot be had loses it, as the wire would. */
  private async send(pending: Pending, server: KnownServer): Promise<void> {
    const isCaseExact = this.opts.randomCase === true;
    const name = isCaseExact ? randomCase(pending.name, randomBytes(Math.ceil(pending.name.length / 8))) : pending.name;
    const attempt: Attempt = {
      pending,
      server,
      expected: { host: server.host, port: server.addr.port, id: -1, name, type: pending.type, isCaseExact },
    };
    let slot: UdpSlot;
    try {
      slot = await this.pool(server).take(attempt);
    } catch {
      return;
    }
    if (pending.isSettled) {
      slot.release();
      return;
    }
    attempt.expected.id = slot.id;
    pending.slots.push(slot);
    this.stats.sourcePorts = [...this.pools.values()].reduce((n, p) => n + p.opened, 0);
    slot.send(encodeQuery(slot.id, name, pending.type), server.addr.port, server.host);
  }

  private tcpQuery(name: string, type: RecordType, server: KnownServer): Promise<DecodedPacket> {
    const id = randomInt(65_536);
    const expected: ExpectedAnswer = { host: server.host, port: server.addr.port, id, name, type, isCaseExact: false };
    return new Promise<DecodedPacket>((resolve, reject) => {
      const socket = net.connect({ host: server.host, port: server.addr.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DnsTimeoutError(`no TCP answer for ${name} ${type} from ${server.label} within ${this.opts.timeoutMs} ms`));
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
          // the connection is the server's (TCP's handshake): its address needs no second look
          const check = checkAnswer(msg, { address: server.host, port: server.addr.port }, expected);
          if (check.kind === 'ok') {
            done(null, check.packet);
            return;
          }
          if (check.kind === 'garbage') {
            this.stats.garbage++;
            done(new Error(`undecodable TCP answer from ${server.label}`));
            return;
          }
          if (check.kind === 'wrong-question') this.stats.mismatched++;
          else this.stats.unexpected++;
        }
      });
      socket.on('close', () => done(new Error(`TCP connection to ${server.label} closed without an answer`)));
    });
  }
}

function queryPacket(id: number, name: string, type: RecordType): Packet {
  return {
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [
      { type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
    ],
  };
}

function encodeQuery(id: number, name: string, type: RecordType): Buffer {
  return dnsPacket.encode(queryPacket(id, name, type));
}
