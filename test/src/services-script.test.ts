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

function servicesSh(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { timeout: 120_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

/** The first line an SMTP server sends, read from inside a network namespace. */
function smtpBanner(netns: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, 'timeout', '10', 'bash', '-c', 'exec 3<>"/dev/tcp/$0/25"; head -n1 <&3', host],
      { timeout: 20_000 },
      (err, out) => (err ? reject(new Error(err.message, { cause: err })) : resolve(out)),
    );
  });
}

describe('services.sh', () => {
  it('a port variable that is no port: one line, exit 1, nothing started', async () => {
    const r = await servicesSh(['start'], { TOOLBOX_SERVICES_DIR: other, MYSQL_PORT: '13306x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("services.sh: error: MYSQL_PORT='13306x' is not a port number (1-65535)\n");
  });

  it('two more data dirs started at once beside the running one: each takes its own network slot and ports, runs, and stops only its own', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'svc-2nd-')), mkdtempSync(join(tmpdir(), 'svc-3rd-'))];
    try {
      const ups = await Promise.all(dirs.map((d) => servicesSh(['start'], { TOOLBOX_SERVICES_DIR: d })));
      for (const up of ups) expect(up.code, up.stderr).toBe(0);
      const envs = dirs.map((d) => JSON.parse(readFileSync(join(d, 'env.json'), 'utf8')) as ServicesEnv);
      const all = [svc, ...envs];
      const names = all.flatMap((e) => [e.network.bridge, ...Object.values(e.network.namespaces).map((n) => n.name)]);
      expect(new Set(names).size).toBe(names.length);
      expect(new Set(all.map((e) => e.network.subnet)).size).toBe(3);
      expect(new Set(all.map((e) => e.mariadb.port)).size).toBe(3);
      expect(new Set(all.map((e) => e.sshd.port)).size).toBe(3);
      envs.forEach((e, i) => expect(ups[i]!.stderr).toContain(`this one uses ${e.network.bridge}, ${e.network.subnet}`));
      for (const e of envs) {
        // its sendmail answers in its own namespace; its status is all up
        expect(await smtpBanner(e.sendmail.netns, e.sendmail.host)).toMatch(/^220 /);
        const st = await servicesSh(['status'], { TOOLBOX_SERVICES_DIR: e.dir });
        expect(st.code, `${e.dir}:\n${st.stdout}${st.stderr}`).toBe(0);
      }
      for (const d of dirs) {
        const down = await servicesSh(['stop'], { TOOLBOX_SERVICES_DIR: d });
        expect(down.code, down.stderr).toBe(0);
      }
      for (const e of envs) for (const ns of Object.values(e.network.namespaces)) expect(existsSync(`/run/netns/${ns.name}`)).toBe(false);
      // the first data dir's network and daemons are untouched
      for (const ns of Object.values(svc.network.namespaces)) expect(existsSync(`/run/netns/${ns.name}`)).toBe(true);
      const st = await servicesSh(['status'], { TOOLBOX_SERVICES_DIR: svc.dir });
      expect(st.code, `${svc.dir}:\n${st.stdout}${st.stderr}`).toBe(0);
    } finally {
      for (const d of dirs) {
        await servicesSh(['stop'], { TOOLBOX_SERVICES_DIR: d });
        rmSync(d, { recursive: true, force: true });
      }
    }
  }, 400_000);

  it('an unknown component: one line, exit 1', async () => {
    const r = await servicesSh(['stop', 'postgres'], { TOOLBOX_SERVICES_DIR: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("services.sh: error: unknown component 'postgres' (one of: mariadb named sshd sshd-v1 sendmail net)\n");
  });
});
