/**
 * Where a probe's TCP connection originates: a bound local source address, or an SSH direct-tcpip
 * channel opened on the vantage host (the MTA sees the vantage's own address).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseSshUrl, sshConnect, UserError, type SshAuthOptions, type SshConnection } from '@toolbox/shared';

export interface VantageSpec {
  /** As the user wrote it: `local`, `10.0.0.5` (source address), `ssh://user@host:port`. */
  label: string;
  kind: 'local' | 'source' | 'ssh';
  sourceIp?: string;
  ssh?: { host: string; port: number; username: string };
}

export interface Connector {
  label: string;
  connect(host: string, port: number, timeoutMs: number): Promise<Duplex>;
  close(): void;
}

export interface SshSettings extends SshAuthOptions {
  timeoutMs: number;
}

/**
 * Parses `--vantage` and `--source-ip` values into specs; none at all means "from here". The user of
 * a URL without one is `defaultUser`, or what `defaultUser(url)` returns (it may throw: no user known).
 */
export function parseVantages(
  sshUrls: readonly string[],
  sourceIps: readonly string[],
  defaultUser: string | ((url: string) => string),
): VantageSpec[] {
  const specs: VantageSpec[] = [];
  for (const ip of sourceIps) {
    if (net.isIP(ip) === 0) throw new UserError('E_VANTAGE', `--source-ip '${ip}' is not an IP address`);
    specs.push({ label: ip, kind: 'source', sourceIp: ip });
  }
  for (const url of sshUrls) {
    if (!url.startsWith('ssh://')) throw new UserError('E_VANTAGE', `--vantage '${url}' is not ssh://[user@]host[:port]`);
    const p = parseSshUrl(url);
    if (p.path !== undefined && p.path !== '' && p.path !== '/')
      throw new UserError('E_VANTAGE', `--vantage '${url}': a vantage has no path`);
    specs.push({
      label: url,
      kind: 'ssh',
      ssh: { host: p.host, port: p.port ?? 22, username: p.username ?? (typeof defaultUser === 'string' ? defaultUser : defaultUser(url)) },
    });
  }
  if (specs.length === 0) specs.push({ label: 'local', kind: 'local' });
  return specs;
}

/** A plain TCP connect with a timeout, from a bound source address when given. */
export function tcpConnect(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, ...(localAddress === undefined ? {} : { localAddress }) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${host}:${port}: no TCP connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(new Error(`${host}:${port}${localAddress === undefined ? '' : ` from ${localAddress}`}: ${err.message}`));
    };
    socket.once('error', onError);
  });
}

/** Opens the vantage (for SSH: connects and verifies the host key once; channels come per probe). */
export async function openConnector(spec: VantageSpec, ssh: SshSettings): Promise<Connector> {
  if (spec.kind !== 'ssh' || spec.ssh === undefined) {
    return {
      label: spec.label,
      connect: (host, port, timeoutMs) => tcpConnect(host, port, timeoutMs, spec.sourceIp),
      close: () => undefined,
    };
  }
  const conn: SshConnection = await sshConnect({
    host: spec.ssh.host,
    port: spec.ssh.port,
    username: spec.ssh.username,
    ...(ssh.privateKeyPath === undefined ? {} : { privateKeyPath: ssh.privateKeyPath }),
    ...(ssh.agent === undefined ? {} : { agent: ssh.agent }),
    ...(ssh.knownHostsPath === undefined ? {} : { knownHostsPath: ssh.knownHostsPath }),
    ...(ssh.hostKeyFingerprint === undefined ? {} : { hostKeyFingerprint: ssh.hostKeyFingerprint }),
    readyTimeoutMs: ssh.timeoutMs,
  });
  return {
    label: spec.label,
    connect: (host, port, timeoutMs) => conn.forwardOut(host, port, { timeoutMs }),
    close: () => conn.close(),
  };
}
