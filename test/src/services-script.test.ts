/**
 * test/scripts/services.sh on bad input and taken resources: one `services.sh: error:` line last,
 * naming what and where, a non-zero exit, and never a hang (each run is bounded here).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { services } from './services-env.js';

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
const lastLine = (s: string) => s.trimEnd().split('\n').at(-1);

describe('services.sh', () => {
  it('a port variable that is no port: one line, exit 1, nothing started', async () => {
    const r = await servicesSh(['start'], { TOOLBOX_SERVICES_DIR: other, MYSQL_PORT: '13306x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("services.sh: error: MYSQL_PORT='13306x' is not a port number (1-65535)\n");
  });

  it('the test network taken by another data dir: names it and how to free it, exit 1', async () => {
    const r = await servicesSh(['start'], { TOOLBOX_SERVICES_DIR: other });
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(
      `services.sh: error: network namespace ${svc.network.namespaces.mta.name} exists but this data dir did not create it; run 'services.sh stop' with the TOOLBOX_SERVICES_DIR that did, or 'ip netns del ${svc.network.namespaces.mta.name}'`,
    );
  });

  it('an unknown component: one line, exit 1', async () => {
    const r = await servicesSh(['stop', 'postgres'], { TOOLBOX_SERVICES_DIR: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('services.sh: error: unknown component \'postgres\' (one of: mariadb named sshd sshd-v1 sendmail net)\n');
  });
});
