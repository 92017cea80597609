import { describe, expect, it } from 'vitest';
import { UserError } from '@toolbox/shared';
import { parseDbUrl } from './db-url.js';
import { mysqlSettings } from './mysql/db-mysql.js';
import { parseOptionFile } from './mysql/option-file.js';

function err(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('parseDbUrl', () => {
  it('reads sqlite paths', () => {
    expect(parseDbUrl('sqlite:./dnslog.sqlite')).toEqual({ kind: 'sqlite', path: './dnslog.sqlite' });
    expect(parseDbUrl('sqlite:///var/lib/dnslog.db')).toEqual({ kind: 'sqlite', path: '/var/lib/dnslog.db' });
    expect(err(() => parseDbUrl('sqlite:')).code).toBe('E_DB_URL');
  });

  it('reads mysql URLs with defaults', () => {
    expect(parseDbUrl('mysql://dnslog@db.example:3307/logs')).toEqual({
      kind: 'mysql',
      host: 'db.example',
      port: 3307,
      user: 'dnslog',
      database: 'logs',
      optionFile: undefined,
      socketPath: undefined,
      ssl: undefined,
      ca: undefined,
    });
    expect(parseDbUrl('mariadb://127.0.0.1/logs?option-file=/etc/dnslog/my.cnf')).toMatchObject({
      port: 3306,
      user: undefined,
      optionFile: '/etc/dnslog/my.cnf',
    });
    expect(parseDbUrl('mysql://u@[::1]:3306/d')).toMatchObject({ kind: 'mysql', user: 'u', host: '::1', port: 3306, database: 'd' });
  });

  it('reads ?ssl=required|verify-full and ?ca=FILE, and refuses anything else with one line', () => {
    expect(parseDbUrl('mysql://u@db/logs?ssl=required')).toMatchObject({ ssl: 'required', ca: undefined });
    expect(parseDbUrl('mysql://u@db/logs?ssl=verify-full&ca=/etc/dnslog/ca.pem')).toMatchObject({
      ssl: 'verify-full',
      ca: '/etc/dnslog/ca.pem',
    });
    expect(err(() => parseDbUrl('mysql://u@db/logs?ssl=yes')).message).toBe(
      '--db mysql://u@db/logs?ssl=yes: ?ssl=yes: expected ?ssl=required or ?ssl=verify-full (with &ca=FILE for a private CA)',
    );
    expect(err(() => parseDbUrl('mysql://u@db/logs?ssl=required&ca=/x.pem')).message).toMatch(/\?ca= is used only with \?ssl=verify-full/);
  });

  it('refuses a password in the URL without echoing it', () => {
    const e = err(() => parseDbUrl('mysql://u:s3cret@h/db'));
    expect(e.code).toBe('E_DB_PASSWORD_IN_URL');
    expect(e.message).not.toContain('s3cret');
    expect(e.message).toContain('DNSLOG_DB_PASSWORD');
  });

  it('refuses unknown schemes and missing databases', () => {
    expect(err(() => parseDbUrl('postgres://h/db')).code).toBe('E_DB_URL');
    expect(err(() => parseDbUrl('mysql://u@h/')).code).toBe('E_DB_URL');
  });
});

describe('MySQL settings', () => {
  const target = parseDbUrl('mysql://127.0.0.1:13306/toolbox?option-file=/x/client.cnf');
  if (target.kind !== 'mysql') throw new Error('unreachable');
  const file = `# comment\n[client]\nuser = toolbox\npassword = "pa ss\\"word"\n[mysqld]\npassword = notthis\n`;

  it('takes user and password from the option file', () => {
    expect(mysqlSettings(target, {}, () => file)).toMatchObject({ user: 'toolbox', password: 'pa ss"word', port: 13306 });
  });

  it('prefers DNSLOG_DB_PASSWORD', () => {
    expect(mysqlSettings(target, { DNSLOG_DB_PASSWORD: 'fromenv' }, () => file).password).toBe('fromenv');
  });

  it('says which file could not be read', () => {
    const e = err(() =>
      mysqlSettings(target, {}, () => {
        throw new Error('ENOENT: no such file');
      }),
    );
    expect(e.message).toBe('cannot read option file /x/client.cnf: ENOENT: no such file');
  });
});

describe('parseOptionFile', () => {
  it('reads [client], [mysql] and [dnslog], later groups winning', () => {
    expect(parseOptionFile('[client]\nhost=a\nport=1\n[dnslog]\nport = 2\nsocket=/s\n[other]\nuser=x\n')).toEqual({
      host: 'a',
      port: 2,
      socket: '/s',
    });
  });
});
