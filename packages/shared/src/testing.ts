/**
 * For the toolbox's own tests: a test that cannot run here (no root, a missing tool) is skipped on a
 * developer's machine, counted as skipped, but in CI (`CI` set) it fails with one line that says what
 * is missing: a CI runner that lost root or a package must not pass by skipping what it cannot run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'vitest';
import ssh2 from 'ssh2';

/** A CliIo that keeps what a command prints, for driving a program in-process. */
export { createMemoryIo, type MemoryIo } from './memory-io.js';

/** Is this a CI run (`CI=true`, as CI services and .ci/run set it)? */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/** The message a test fails with in CI when `missing` keeps it from running. */
export function cannotRunMessage(missing: string): string {
  return `cannot run here: ${missing} (in CI a test that cannot run fails instead of skipping)`;
}

type TestBody = () => unknown;

/**
 * `it`, unless `missing` says what keeps the test from running: then skipped, or failed in CI.
 * `missing` is undefined when everything is there.
 */
export function itNeeds(missing: string | undefined): (name: string, fn: TestBody, timeout?: number) => void {
  if (missing === undefined) return (name, fn, timeout) => it(name, fn, timeout);
  if (!isCi()) return (name, fn, timeout) => it.skip(name, fn, timeout);
  return (name) =>
    it(name, () => {
      throw new Error(cannotRunMessage(missing));
    });
}

/**
 * `describe`, unless `missing` says what keeps its tests from running: then all are skipped, or in
 * CI each of them fails with the reason (its hooks still run, so they must cope with that).
 */
export function describeNeeds(missing: string | undefined): (name: string, fn: () => void) => void {
  if (missing === undefined) return (name, fn) => describe(name, fn);
  if (!isCi()) return (name, fn) => describe.skip(name, fn);
  return (name, fn) =>
    describe(name, () => {
      beforeEach(() => {
        throw new Error(cannotRunMessage(missing));
      });
      fn();
    });
}

/** Why `cmds` cannot all be run: the first that is not on PATH (or at its absolute path), or undefined. */
export function missingCommand(cmds: string[], lookup: (cmd: string) => boolean): string | undefined {
  const gone = cmds.filter((c) => !lookup(c));
  return gone.length === 0 ? undefined : `${gone.join(', ')} not installed`;
}

/**
 * A real process holding `file` open on descriptor 3, for writing (`>>`) or reading (`<`), as
 * another program would: resolves once it has become `sleep` (its exec done, so the name the /proc
 * scan sees is settled). The caller kills it.
 */
export async function holdOpen(file: string, mode: '>>' | '<'): Promise<ChildProcess> {
  const c = spawn('sh', ['-c', `exec 3${mode}"$0"; exec sleep 30`, file], { stdio: 'ignore' });
  const started = Date.now();
  for (;;) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim();
    } catch {
      // not there yet
    }
    if (comm === 'sleep') return c;
    if (c.exitCode !== null || Date.now() - started > 10_000) {
      c.kill('SIGKILL');
      throw new Error(`holdOpen: the holder of ${file} did not start (exit ${String(c.exitCode)}, name '${comm}')`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * For a test file whose tests hold files open: `hold(file, mode)` is holdOpen, and every holder
 * still running is killed after each test.
 */
export function useFileHolders(): (file: string, mode: '>>' | '<') => Promise<ChildProcess> {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  return async (file, mode) => {
    const c = await holdOpen(file, mode);
    children.push(c);
    return c;
  };
}

/**
 * A fresh SSH key pair for a test peer or client. ssh2's generator now and then writes an ed25519
 * key that its own parser then calls malformed: such a pair is drawn again.
 */
export function sshKeyPair(type: 'ed25519' | 'ecdsa' = 'ed25519'): { private: string; public: string } {
  const generate = () => (type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519'));
  let pair = generate();
  while (ssh2.utils.parseKey(pair.private) instanceof Error) pair = generate();
  return pair;
}
