/**
 * A private BIND named for one test file: its own configuration on a free loopback port, so a test
 * that needs views, keys, zones or logging of its own leaves the shared test server untouched.
 *
 *   const port = await freePort();
 *   const named = await startPrivateNamed({ dir, conf: `options { listen-on port ${port} …`, port, probe: ['ns1.example.test', 'A'] });
 *   …
 *   await named.stop();
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free port on loopback for both UDP and TCP (checked by binding TCP; named binds both). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

/**
 * The `options { … }` block every test server shares: its files in `dir`, the given `listen-on`
 * statements, and no recursion, DNSSEC validation or NOTIFY (nothing leaves loopback); `extra`
 * statements go at the end.
 */
export function namedOptions(dir: string, listen: readonly string[], extra: readonly string[] = []): string {
  const lines = [
    `directory "${dir}";`,
    `pid-file "${dir}/named.pid";`,
    `session-keyfile "${dir}/session.key";`,
    ...listen,
    'recursion no;',
    'dnssec-validation no;',
    'notify no;',
    ...extra,
  ];
  return `options {\n${lines.map((l) => `  ${l}`).join('\n')}\n};\n`;
}

export interface PrivateNamedOptions {
  /** Where named.conf is written; the configuration keeps its zones, logs and pid file here too. */
  dir: string;
  /**
   * The text of named.conf (checked with named-checkconf before named starts). It must say
   * `recursion no;`: a recursing test server would send questions it cannot answer off the machine.
   */
  conf: string;
  /** The port the configuration listens on at `host`. */
  port: number;
  /** The address the probe asks (default 127.0.0.1). */
  host?: string;
  /** Runs named inside this network namespace (`ip netns exec`), e.g. one of the test network's. */
  netns?: string;
  /** A name and type the server answers: asked with dig until an answer comes. */
  probe: [name: string, type: string];
  /** A further check that must pass too before the server counts as up (e.g. `rndc status`). */
  ready?: () => Promise<unknown>;
  /** How long to wait for the first answer (default 15 s). */
  timeoutMs?: number;
}

export interface PrivateNamed {
  port: number;
  pid: number;
  /** SIGTERM, and wait until named has exited (SIGKILL after 10 s). Safe to call twice. */
  stop(): Promise<void>;
}

export async function startPrivateNamed(o: PrivateNamedOptions): Promise<PrivateNamed> {
  if (!/\brecursion\s+no\s*;/.test(o.conf))
    throw new Error('private named: the configuration must say `recursion no;` (traffic stays on loopback)');
  const confPath = join(o.dir, 'named.conf');
  writeFileSync(confPath, o.conf);
  await run('named-checkconf', [confPath], { timeout: 10_000 });
  const argv = ['/usr/sbin/named', '-f', '-c', confPath];
  // ip netns exec execs named itself: the child's pid is named's, so stop() signals named
  const child =
    o.netns === undefined
      ? spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' })
      : spawn('ip', ['netns', 'exec', o.netns, ...argv], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const named: PrivateNamed = { port: o.port, pid: child.pid ?? 0, stop: () => stop(child) };
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  for (;;) {
    try {
      await run('dig', ['-p', String(o.port), `@${o.host ?? '127.0.0.1'}`, '+tries=1', '+time=1', ...o.probe], { timeout: 5_000 });
      await o.ready?.();
      return named;
    } catch (err) {
      const gone = child.exitCode !== null || child.signalCode !== null;
      if (gone || Date.now() > deadline) {
        await named.stop();
        const why = gone
          ? `named exited (${child.exitCode ?? child.signalCode}) before it answered; see its log under ${o.dir}`
          : String(err);
        throw new Error(`private named did not answer on ${o.host ?? '127.0.0.1'} port ${o.port}: ${why}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
