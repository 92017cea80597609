/**
 * Starts the real services once for the whole run (scripts/services.sh, which installs what is
 * missing) and provides env.json to the tests. Teardown stops only what this run started: services
 * that were already running, or any with TOOLBOX_SERVICES_KEEP=1, are left running.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { parseServicesEnv } from './services-env.js';

const TEST_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = join(TEST_ROOT, 'scripts', 'services.sh');
/** A fresh machine installs packages first (~40 s); the script bounds its own waits too. */
const START_TIMEOUT_MS = 15 * 60_000;
const STOP_TIMEOUT_MS = 2 * 60_000;

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs services.sh with argv (no shell), echoing its progress lines to our stderr as they come. */
function runScript(args: string[], timeoutMs: number): Promise<ScriptResult> {
  return new Promise((resolvePromise) => {
    // The real services run on the real clock, even when the tests run under libfaketime
    // (scripts/clock-matrix.sh): BIND's tools hang with it preloaded.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME')));
    const child = execFile('bash', [SCRIPT, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolvePromise({ code, stdout, stderr });
    });
    child.stderr?.pipe(process.stderr);
  });
}

function servicesDir(): string {
  const fromEnv = process.env.TOOLBOX_SERVICES_DIR;
  // services.sh resolves a relative dir against its working directory, which is ours
  return fromEnv ? resolve(fromEnv) : resolve(TEST_ROOT, '..', '.services');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await runScript(['start'], START_TIMEOUT_MS);
  if (started.code !== 0) {
    const why = started.code === null ? `did not finish within ${START_TIMEOUT_MS / 1000} s` : `exited with ${started.code}`;
    // its one error line says which service and where its log is; the closing summary repeats it
    const errorLine = started.stderr
      .split('\n')
      .filter((l) => l.startsWith('services.sh: error:'))
      .at(-1);
    const message = `bash ${SCRIPT} start ${why}${errorLine ? `: ${errorLine}` : '; its output is above'}`;
    await mkdir(join(TEST_ROOT, '.test-results'), { recursive: true });
    await writeFile(join(TEST_ROOT, '.test-results', 'setup-error.txt'), `${message}\n`);
    throw new Error(message);
  }
  const envPath = join(servicesDir(), 'env.json');
  const env = parseServicesEnv(await readFile(envPath, 'utf8'), envPath);
  project.provide('services', env);

  return async () => {
    if (process.env.TOOLBOX_SERVICES_KEEP === '1' || env.started.length === 0) return;
    const stopped = await runScript(['stop', ...env.started], STOP_TIMEOUT_MS);
    if (stopped.code !== 0) throw new Error(`bash ${SCRIPT} stop ${env.started.join(' ')} exited with ${String(stopped.code)}`);
  };
}
