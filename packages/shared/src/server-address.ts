/**
 * A DNS server given on the command line (`--resolver`): `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare
 * IPv6 address; the port defaults to 53. Names are refused: a resolver named by a name would need
 * a resolver first.
 */
import net from 'node:net';

export interface ServerAddr {
  host: string;
  port: number;
}

/** The address, or null when the text is none of the accepted forms or the port is out of range. */
export function parseServerAddress(text: string, defaultPort = 53): ServerAddr | null {
  const t = text.trim();
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  let host: string;
  let port = defaultPort;
  if (bracket) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (net.isIPv6(t)) {
    host = t;
  } else {
    const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(t);
    if (!m) return null;
    host = m[1] ?? '';
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65_535) return null;
  return { host, port };
}

/** `host:port`, IPv6 in brackets: the form node:dns `setServers` and our messages use. */
export function serverLabel(s: ServerAddr): string {
  return net.isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}
