/**
 * dnslog to MySQL over TLS (`?ssl=required|verify-full&ca=FILE`), against the test MariaDB with a
 * certificate made for it by services.sh. A user that MariaDB lets in only over TLS (REQUIRE SSL)
 * shows that the connection really is encrypted; a CA that did not sign the server's certificate
 * shows that verify-full really verifies.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from './services-env.js';
import { useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_tls', 'dnslog-tls-');
const USER = `dnslog_tls_${process.pid}`;
const PASSWORD = randomBytes(12).toString('hex');

/** As MariaDB's root, over the local socket (socket authentication: the tests run as root). */
function asRoot(sql: string): void {
  execFileSync('mariadb', ['--no-defaults', `--socket=${services().mariadb.socket}`, '-uroot', '-e', sql], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const dnslog = (args: string[]): Promise<ToolRun> => runTool('dnslog', args, { timeoutMs: 60_000, env: { DNSLOG_DB_PASSWORD: PASSWORD } });

const url = (query: string): string => {
  const { host, port } = services().mariadb;
  return `mysql://${USER}@${host}:${port}/${scratch.db}${query}`;
};

beforeAll(() => {
  asRoot(
    `CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL; GRANT ALL ON \`${scratch.db}\`.* TO '${USER}'@'127.0.0.1'`,
  );
});
afterAll(() => {
  asRoot(`DROP USER IF EXISTS '${USER}'@'127.0.0.1'`);
});

describe('dnslog --db mysql://…?ssl=', () => {
  it('without ?ssl the TLS-only user is refused: the server insists, so the runs below did use TLS', async () => {
    const r = await dnslog(['db', 'init', '--db', url('')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dnslog: cannot connect to mysql:\/\/.*: Access denied for user/);
    expect(r.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  });

  it('?ssl=required connects, encrypted', async () => {
    const r = await dnslog(['db', 'init', '--db', url('?ssl=required')]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('?ssl=verify-full&ca=FILE connects when FILE signed the server certificate', async () => {
    const r = await dnslog(['report', 'servers', '--db', url(`?ssl=verify-full&ca=${services().mariadb.tlsCa}`), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('?ssl=verify-full refuses a server whose certificate another CA (or none the system knows) signed: one line, exit 2', async () => {
    for (const query of [`?ssl=verify-full&ca=${services().mariadb.tlsOtherCa}`, '?ssl=verify-full']) {
      const r = await dnslog(['db', 'init', '--db', url(query)]);
      expect(r.code, query).toBe(2);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines, query).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^dnslog: cannot connect to mysql:\/\/.*: (self[- ]signed certificate|unable to get local issuer certificate|unable to verify the first certificate)/,
      );
    }
  });
});
