/**
 * Source ports an off-path attacker cannot guess: a pool of UDP sockets, each bound to port 0 so
 * that the kernel gives it a random ephemeral port (Linux picks one at random in
 * net.ipv4.ip_local_port_range, RFC 6056), used for a bounded number of queries and then retired:
 * it takes no new query and is closed once the last answer it waits for is settled, while a fresh
 * socket on a new port takes its place. Each query goes out on a socket chosen at random, under an
 * ID chosen at random among those not waiting on that socket. The sockets are not connected, so
 * datagrams from anywhere reach us: the caller checks (and counts) where each came from.
 */
import dgram from 'node:dgram';

export interface UdpPoolOptions<T> {
  family: 'udp4' | 'udp6';
  /** Sockets taking queries at once. */
  size: number;
  /** Queries a socket carries before it is replaced. */
  maxUses: number;
  /** A uniform integer in [0, n): which socket, which ID. */
  random: (n: number) => number;
  /** Every datagram, with what waits on its socket under its ID (undefined: nothing does). */
  onMessage: (msg: Buffer, from: dgram.RemoteInfo, waiting: T | undefined) => void;
  recvBufferSize?: number;
}

/** One query waiting on one socket under one ID. */
export interface UdpSlot {
  readonly port: number;
  readonly id: number;
  send(msg: Buffer, port: number, host: string): void;
  /** Stops waiting: the ID is free again, and a retired socket with nothing left waiting closes. */
  release(): void;
}

interface Waiting<T> {
  value: T;
}

class PooledSocket<T> {
  uses = 0;
  port = 0;
  isRetired = false;
  isClosed = false;
  readonly waiting = new Map<number, Waiting<T>>();
  constructor(readonly socket: dgram.Socket) {}
}

export class UdpSocketPool<T> {
  /** Sockets opened so far (each on its own port, as chosen by the kernel). */
  opened = 0;
  private ready: PooledSocket<T>[] = [];
  private readonly open = new Set<PooledSocket<T>>();
  private binding = 0;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private isClosed = false;

  constructor(private readonly opts: UdpPoolOptions<T>) {
    if (opts.size < 1 || opts.maxUses < 1) throw new Error('UdpSocketPool: size and maxUses must be at least 1');
  }

  /** Ports of the sockets open now (taking queries or waiting for their last answers). */
  get ports(): number[] {
    return [...this.open].map((s) => s.port);
  }

  /** A socket and an ID for one query; rejects when no socket can be bound. */
  async take(value: T): Promise<UdpSlot> {
    for (;;) {
      if (this.isClosed) throw new Error('socket pool closed');
      this.fill();
      // socket, use and ID are claimed in one synchronous step: another take resumed in between
      // must see the use counted and the ID taken
      if (this.ready.length > 0) return this.claim(value);
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
  }

  close(): void {
    this.isClosed = true;
    for (const s of [...this.open]) this.closeSocket(s);
    this.ready = [];
    this.wake(new Error('socket pool closed'));
  }

  private claim(value: T): UdpSlot {
    const n = this.ready.length;
    const s = this.ready[n === 1 ? 0 : this.opts.random(n)] as PooledSocket<T>;
    s.uses++;
    if (s.uses >= this.opts.maxUses) this.retire(s);
    let id: number;
    do id = this.opts.random(65_536);
    while (s.waiting.has(id));
    const entry: Waiting<T> = { value };
    s.waiting.set(id, entry);
    return {
      port: s.port,
      id,
      send: (msg, port, host) => {
        // a send error (no route) loses the datagram, as the wire would: the attempt times out
        if (!s.isClosed) s.socket.send(msg, port, host, () => undefined);
      },
      release: () => {
        if (s.waiting.get(id) !== entry) return;
        s.waiting.delete(id);
        if (s.isRetired && s.waiting.size === 0) this.closeSocket(s);
      },
    };
  }

  private fill(): void {
    while (!this.isClosed && this.ready.length + this.binding < this.opts.size) this.bindOne();
  }

  private retire(s: PooledSocket<T>): void {
    s.isRetired = true;
    this.ready = this.ready.filter((x) => x !== s);
    this.fill();
  }

  private bindOne(): void {
    this.binding++;
    const isV6 = this.opts.family === 'udp6';
    const socket = dgram.createSocket({ type: this.opts.family, ipv6Only: isV6, recvBufferSize: this.opts.recvBufferSize });
    const s = new PooledSocket<T>(socket);
    socket.on('message', (msg, from) => {
      const id = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
      this.opts.onMessage(msg, from, s.waiting.get(id)?.value);
    });
    const onBindError = (err: Error) => {
      this.binding--;
      s.isClosed = true;
      socket.close();
      // every waiter hears of it: none keeps waiting for a socket that may never come
      this.wake(err);
    };
    socket.once('error', onBindError);
    socket.bind({ port: 0, address: isV6 ? '::' : '0.0.0.0', exclusive: true }, () => {
      socket.off('error', onBindError);
      // later errors (ICMP on some systems) must not crash the process; sends report their own
      socket.on('error', () => undefined);
      socket.unref();
      this.binding--;
      if (this.isClosed) {
        s.isClosed = true;
        socket.close();
        return;
      }
      s.port = socket.address().port;
      this.opened++;
      this.open.add(s);
      this.ready.push(s);
      this.wake(null);
    });
  }

  private closeSocket(s: PooledSocket<T>): void {
    if (s.isClosed) return;
    s.isClosed = true;
    this.open.delete(s);
    this.ready = this.ready.filter((x) => x !== s);
    s.socket.close();
  }

  private wake(err: Error | null): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) {
      if (err) x.reject(err);
      else x.resolve();
    }
  }
}
