import { describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from './cli.js';

async function run(...args: string[]) {
  const io = createMemoryIo();
  const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
  return { exit, out: io.out(), err: io.err() };
}

describe('dnslog cli', () => {
  it('prints its help with the exit codes and exits 0', async () => {
    const r = await run('--help');
    expect(r.exit).toBe(0);
    expect(r.out.replace(/\s+/g, ' ')).toContain('Usage: dnslog [options]');
    expect(r.out.replace(/\s+/g, ' ')).toContain('Ship BIND (named) query logs into SQLite or MySQL/MariaDB and report on them.');
    expect(r.out).toMatch(/Exit codes:\n {2}0 {3}ok\n {2}1 {3}.+\n {2}2 {3}usage, configuration or internal error/);
  });

  it('maps an unknown option to one line and exit 2', async () => {
    const r = await run('--no-such-option');
    expect(r.exit).toBe(2);
    expect(r.err.split('\n')[0]).toBe("dnslog: unknown option '--no-such-option'");
  });

  it('takes durations with a unit; a bare --every, --lock-wait or --min-age is the old unit for this release, with a deprecation line', async () => {
    const now = await run('schedule', '--log', '/var/log/named/query.log', '--every', '6h', '--db', 'sqlite:/var/lib/dnslog/q.sqlite');
    const old = await run('schedule', '--log', '/var/log/named/query.log', '--every', '6', '--db', 'sqlite:/var/lib/dnslog/q.sqlite');
    expect(now.err).toBe('');
    expect(old.err).toBe('dnslog: warning: --every 6 without a unit is deprecated and read as 6h; write --every 6h\n');
    expect(old.out).toBe(now.out);
    expect(now.out).toMatch(/^7 0,6,12,18 \* \* \* /m);
    const odd = await run('schedule', '--log', '/var/log/named/query.log', '--every', '90m');
    expect(odd.err).toBe('dnslog: --every 1.5h: give a divisor of 24 hours (1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h)\n');
    expect(odd.exit).toBe(2);
    const bad = await run('prune', '--keep', '30d', '--lock-wait', 'soon');
    expect(bad.err.split('\n')[0]).toBe(
      "dnslog: option '--lock-wait <duration>' argument 'soon' is invalid. 'soon' is not a duration: a whole number and a unit (500ms, 5s, 15m, 6h, 2d).",
    );
    expect(bad.exit).toBe(2);
  });
});
