/**
 * `--db` URLs: `sqlite:PATH` (the default, `sqlite:./dnslog.sqlite`) or
 * `mysql://user@host[:port]/database` (also `mariadb://`). A password is never taken from the URL
 * (it would be visible in `ps` and shell history): it comes from DNSLOG_DB_PASSWORD or a MySQL
 * option file.
 */
import { UserError } from '@toolbox/shared/cli';

export const DEFAULT_DB_URL = 'sqlite:./dnslog.sqlite';

export type DbTarget =
  | { kind: 'sqlite'; path: string }
  | {
      kind: 'mysql';
      host: string;
      port: number;
      user: string | undefined;
      database: string;
      /** `?option-file=PATH` (a [client] section with host, user, password…), read by the adapter. */
      optionFile: string | undefined;
      socketPath: string | undefined;
      /**
       * `?ssl=`: `required` encrypts without checking who answers; `verify-full` also checks the
       * server's certificate against `?ca=FILE` (or the system's CAs) and its name against the host.
       * Absent: no TLS (a local socket or a trusted network).
       */
      ssl: SslMode | undefined;
      ca: string | undefined;
    };

export type SslMode = 'required' | 'verify-full';
const SSL_MODES: readonly string[] = ['required', 'verify-full'];

export function parseDbUrl(url: string): DbTarget {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new UserError('E_DB_URL', `--db ${url}: give a file, e.g. sqlite:./dnslog.sqlite`);
    return { kind: 'sqlite', path };
  }
  if (/^(mysql|mariadb):\/\//.test(url)) return parseMysqlUrl(url);
  throw new UserError('E_DB_URL', `--db ${url}: expected sqlite:PATH or mysql://user@host:port/database`);
}

function parseMysqlUrl(url: string): DbTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError('E_DB_URL', `--db ${redact(url)}: not a valid URL (mysql://user@host:port/database)`);
  }
  if (u.password !== '') {
    throw new UserError(
      'E_DB_PASSWORD_IN_URL',
      `--db ${redact(url)}: passwords on the command line leak through ps and shell history; ` +
        'set DNSLOG_DB_PASSWORD or use ?option-file=PATH',
    );
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) {
    throw new UserError('E_DB_URL', `--db ${url}: name the database, e.g. mysql://dnslog@db.example:3306/dnslog`);
  }
  const port = u.port === '' ? 3306 : Number(u.port);
  const ssl = u.searchParams.get('ssl') ?? undefined;
  if (ssl !== undefined && !SSL_MODES.includes(ssl)) {
    throw new UserError(
      'E_DB_URL',
      `--db ${redact(url)}: ?ssl=${ssl}: expected ?ssl=required or ?ssl=verify-full (with &ca=FILE for a private CA)`,
    );
  }
  const ca = u.searchParams.get('ca') ?? undefined;
  if (ca !== undefined && ssl !== 'verify-full') {
    throw new UserError(
      'E_DB_URL',
      `--db ${redact(url)}: ?ca= is used only with ?ssl=verify-full (which checks the server's certificate against it)`,
    );
  }
  return {
    kind: 'mysql',
    host: u.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port,
    user: u.username === '' ? undefined : decodeURIComponent(u.username),
    database,
    optionFile: u.searchParams.get('option-file') ?? undefined,
    socketPath: u.searchParams.get('socket') ?? undefined,
    ssl: ssl as SslMode | undefined,
    ca,
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
