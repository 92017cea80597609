/**
 * Reads a MySQL option file (`~/.my.cnf` style) for the connection settings, so that a password
 * never needs to be on the command line. Only the `[client]`, `[mysql]` and `[dnslog]` groups are
 * read, later groups overriding earlier ones.
 */

export interface ClientOptions {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  socket?: string;
}

const GROUPS = ['client', 'mysql', 'dnslog'];

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0]) {
    return t.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', '\\': '\\' })[c] ?? c);
  }
  return t;
}

export function parseOptionFile(text: string): ClientOptions {
  const byGroup = new Map<string, ClientOptions>();
  let group = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const g = /^\[([^\]]+)\]$/.exec(line);
    if (g) {
      group = (g[1] ?? '').trim().toLowerCase();
      continue;
    }
    if (!GROUPS.includes(group)) continue;
    const eq = line.indexOf('=');
    if (eq === -1) continue;
    const key = line.slice(0, eq).trim().toLowerCase().replace(/-/g, '_');
    const value = unquote(line.slice(eq + 1));
    const o = byGroup.get(group) ?? {};
    if (key === 'host') o.host = value;
    else if (key === 'port' && /^\d+$/.test(value)) o.port = Number(value);
    else if (key === 'user') o.user = value;
    else if (key === 'password') o.password = value;
    else if (key === 'database') o.database = value;
    else if (key === 'socket') o.socket = value;
    byGroup.set(group, o);
  }
  return Object.assign({}, ...GROUPS.map((g) => byGroup.get(g) ?? {})) as ClientOptions;
}
