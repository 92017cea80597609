/**
 * Ctrl-C on the built mx-check in the middle of a list, against a DNS server on loopback that
 * answers the first domains and never answers the rest: the run stops asking, prints the results
 * it has (valid JSON lines or table rows), says on stderr how many domains were and were not
 * checked, and exits 130; a second Ctrl-C exits at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { toolBin } from './run-tool.js';

const ANSWERED = 40;
const LIST = 300;
const CONCURRENCY = 8;

interface Server {
  port: number;
  /** Every question received, as `NAME TYPE`. */
  questions: string[];
  close(): Promise<void>;
}

/** dN.example.test for N < ANSWERED: MX 10 mx.dN.example.test, whose A is 192.0.2.1; silence for the rest. */
async function startServer(): Promise<Server> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const questions: string[] = [];
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    questions.push(`${question.name} ${question.type}`);
    const n = Number(/(?:^|\.)d(\d+)\.example\.test$/.exec(question.name)?.[1] ?? -1);
    if (n < 0 || n >= ANSWERED) return;
    const answers: Answer[] = [];
    if (question.type === 'MX' && !question.name.startsWith('mx.'))
      answers.push({ type: 'MX', name: question.name, ttl: 60, data: { preference: 10, exchange: `mx.${question.name}` } });
    if (question.type === 'A' && question.name.startsWith('mx.'))
      answers.push({ type: 'A', name: question.name, ttl: 60, data: '192.0.2.1' });
    sock.send(
      dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers }),
      rinfo.port,
      rinfo.address,
    );
  });
  return { port: sock.address().port, questions, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when `test(stdout, stderr)` holds. */
  until(test: (out: string, err: string) => boolean): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [toolBin('mx-check'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const watchers: (() => void)[] = [];
  const changed = () => {
    for (const w of watchers) w();
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    changed();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    changed();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const until = (test: (o: string, e: string) => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (test(out, err)) resolve();
      };
      watchers.push(check);
      void exit.then(() => reject(new Error(`mx-check exited before the condition held; stdout: ${out}; stderr: ${err}`)));
      check();
    });
  return { child, stdout: () => out, stderr: () => err, until, exit };
}

let server: Server | undefined;
let run: Run | undefined;
afterEach(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  run = undefined;
  await server?.close();
  server = undefined;
});

const domains = Array.from({ length: LIST }, (_, i) => `d${i}.example.test`);
const baseArgs = (port: number, timeoutMs: number) => [
  '--resolver',
  `127.0.0.1:${port}`,
  '--treat-as-global',
  '192.0.2.0/24',
  '--timeout',
  `${timeoutMs}ms`,
  '--retries',
  '2',
  '--concurrency',
  String(CONCURRENCY),
  ...domains,
];
const lineCount = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

describe('mx-check interrupted by Ctrl-C', () => {
  it('--json: prints the results obtained as valid JSON lines, says what was not checked, exits 130, sends nothing new', async () => {
    server = await startServer();
    run = start([...baseArgs(server.port, 3000), '--json']);
    await run.until((out) => lineCount(out, /^\{/) >= ANSWERED);
    run.child.kill('SIGINT');
    const { code, signal } = await run.exit;
    expect(signal).toBeNull();
    expect(code).toBe(130);

    const lines = run.stdout().split('\n');
    expect(lines.pop()).toBe('');
    const results = lines.map((l) => JSON.parse(l) as { domain: string; verdict: string });
    expect(results.map((r) => r.domain)).toEqual(domains.slice(0, ANSWERED));
    expect(results.every((r) => r.verdict === 'ok')).toBe(true);
    expect(run.stderr()).toMatch(
      new RegExp(`\\nmx-check: interrupted: ${ANSWERED} of ${LIST} domain\\(s\\) checked, ${LIST - ANSWERED} not checked\\n$`),
    );

    // the domains stuck in flight were asked once each: no retry after Ctrl-C, no domain after them
    const unanswered = server.questions.filter((q) => Number(/^d(\d+)\./.exec(q)?.[1] ?? 0) >= ANSWERED);
    expect(unanswered.sort()).toEqual(
      domains
        .slice(ANSWERED, ANSWERED + CONCURRENCY)
        .map((d) => `${d} MX`)
        .sort(),
    );
  });

  it('table: the rows obtained and a summary line of what was checked, exit 130', async () => {
    server = await startServer();
    run = start(baseArgs(server.port, 3000));
    await run.until((out) => lineCount(out, /^d\d+\.example\.test /) >= ANSWERED);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code).toBe(130);
    const lines = run.stdout().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DOMAIN +VERDICT +MX$/);
    expect(lines.slice(1, -1)).toEqual(domains.slice(0, ANSWERED).map((d) => `${d.padEnd(32)} ok       10 mx.${d} (192.0.2.1)`));
    expect(lines.at(-1)).toMatch(
      new RegExp(`^${ANSWERED} domain\\(s\\): ${ANSWERED} ok, 0 warn, 0 no_mail, 0 fail, 0 error in \\d+\\.\\d\\ds$`),
    );
    expect(run.stderr()).toContain(`mx-check: interrupted: ${ANSWERED} of ${LIST} domain(s) checked, ${LIST - ANSWERED} not checked\n`);
  });

  it('a second Ctrl-C exits at once instead of waiting out the queries in flight', async () => {
    server = await startServer();
    // the queries in flight would take 10 minutes to time out: the test's own timeout would fail first
    run = start([...baseArgs(server.port, 600_000), '--json']);
    await run.until((out) => lineCount(out, /^\{/) >= ANSWERED);
    run.child.kill('SIGINT');
    await run.until((_, err) => err.includes('Ctrl-C again to stop at once'));
    run.child.kill('SIGINT');
    const { code, signal } = await run.exit;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(run.stderr()).toMatch(/mx-check: interrupted again: exiting now\n$/);
    const results = run
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { domain: string });
    expect(results.map((r) => r.domain)).toEqual(domains.slice(0, ANSWERED));
  });
});
