/**
 * test/scripts/services.sh beside another data dir's services, and on bad input: one
 * `services.sh: error:` line last, naming what and where, a non-zero exit, and never a hang (each
 * run is bounded here).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { services, type ServicesEnv } from './services-env.js';

const SCRIPT = fileURLToPath(new URL('../scripts/services.sh', import.meta.url));
const svc = services();
const other = mkdtempSync(join(tmpdir(), 'svc-other-'));
afterAll(() => rmSync(other, { recursive: true, force: true }));

function servicesSh(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { timeout: 120_000, env: { ...process.env, ...env } }, (err, _out, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr });
    });
  });
}

/** The first line an SMTP server sends, read from inside a network namespace. */
function smtpBanner(netns: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, 'timeout', '10', 'bash', '-c', 'exec 3<>"/dev/tcp/$0/25"; head -n1 <&3', host], { timeout: 20_000 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

describe('services.sh', () => {
  it('a port variable that is no port: one line, exit 1, nothing started', async () => {
    const r = await servicesSh(['start'], { TOOLBOX_SERVICES_DIR: other, MYSQL_PORT: '13306x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("services.sh: error: MYSQL_PORT='13306x' is not a port number (1-65535)\n");
  });

  it('a second data dir beside the running one: takes the next network slot, runs, and stops only its own', async () => {
    const second = mkdtempSync(join(tmpdir(), 'svc-2nd-'));
    try {
      const up = await servicesSh(['start'], { TOOLBOX_SERVICES_DIR: second });
      expect(up.code, up.stderr).toBe(0);
      const env2 = JSON.parse(readFileSync(join(second, 'env.json'), 'utf8')) as ServicesEnv;
      const mine = [svc.network.bridge, ...Object.values(svc.network.namespaces).map((n) => n.name)];
      const theirs = [env2.network.bridge, ...Object.values(env2.network.namespaces).map((n) => n.name)];
      expect(theirs.filter((n) => mine.includes(n))).toEqual([]);
      expect(env2.network.subnet).not.toBe(svc.network.subnet);
      expect(up.stderr).toContain(`this one uses ${env2.network.bridge}, ${env2.network.subnet}`);
      // its sendmail answers in its own namespace, and the first data dir's sendmail still runs
      const banner = await smtpBanner(env2.sendmail.netns, env2.sendmail.host);
      expect(banner).toMatch(/^220 /);
      expect((await servicesSh(['status'], { TOOLBOX_SERVICES_DIR: second })).code).toBe(0);
      const down = await servicesSh(['stop'], { TOOLBOX_SERVICES_DIR: second });
      expect(down.code, down.stderr).toBe(0);
      for (const ns of Object.values(env2.network.namespaces)) expect(existsSync(`/run/netns/${ns.name}`)).toBe(false);
      for (const ns of Object.values(svc.network.namespaces)) expect(existsSync(`/run/netns/${ns.name}`)).toBe(true);
      expect(existsSync(`/proc/${svc.sendmail.pid}`)).toBe(true);
      expect((await servicesSh(['status'], { TOOLBOX_SERVICES_DIR: svc.dir })).code).toBe(0);
    } finally {
      await servicesSh(['stop'], { TOOLBOX_SERVICES_DIR: second });
      rmSync(second, { recursive: true, force: true });
    }
  }, 240_000);

  it('an unknown component: one line, exit 1', async () => {
    const r = await servicesSh(['stop', 'postgres'], { TOOLBOX_SERVICES_DIR: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('services.sh: error: unknown component \'postgres\' (one of: mariadb named sshd sshd-v1 sendmail net)\n');
  });
});
