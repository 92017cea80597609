import type { Answer } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import type { CheckResult } from '../check/check.js';
import { buildProgram } from '../cli.js';
import { jsonObject, tableRow } from './output.js';
import { startFakeDns, type FakeDns } from '../testing/fake-dns.js';

// ESC ] 0 ; … BEL sets the terminal title, CR returns to the line's start to overwrite it, and
// U+009B is the one-character C1 form of ESC [ (CSI); lower case, as exchanges are compared
const HOSTILE = 'mx\x1b]0;owned\x07\r\u009b2j.evil.test';
const SHOWN = 'mx\\x1b]0;owned\\x07\\x0d\\x9b2j.evil.test';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

const hostileResult = (): CheckResult => ({
  domain: 'evil.test',
  verdict: 'warn',
  findings: [
    { code: 'MX_CNAME', severity: 'warn', record: `MX 10 ${HOSTILE}.`, detail: `${HOSTILE} is an alias (CNAME x\x1b[31m.test)` },
    { code: 'NULL_MX_SENDER_CONFLICT', severity: 'warn', record: 'TXT "v=spf1 \x1b[8m+all"', detail: 'null MX' },
  ],
  mx: [{ preference: 10, exchange: HOSTILE, addresses: ['192.0.2.1'], cname: ['x\x1b[31m.test'] }],
  resolver: '127.0.0.1:53',
  ms: 1,
});

describe('table output escapes control characters from DNS', () => {
  it('ESC, CR, BEL and a C1 character in an exchange, a CNAME, a record and a detail', () => {
    const text = tableRow(hostileResult());
    expect(text).toBe(
      `${'evil.test'.padEnd(32)} warn     10 ${SHOWN} -> x\\x1b[31m.test (192.0.2.1)\n` +
        `    warn MX_CNAME [MX 10 ${SHOWN}.]: ${SHOWN} is an alias (CNAME x\\x1b[31m.test)\n` +
        '    warn NULL_MX_SENDER_CONFLICT [TXT "v=spf1 \\x1b[8m+all"]: null MX\n',
    );
    expect(text).not.toMatch(CONTROL);
  });

  it('a backslash is doubled, so that an escape printed reads back unambiguously', () => {
    const r: CheckResult = {
      ...hostileResult(),
      findings: [],
      mx: [{ preference: 10, exchange: 'a\\x1b.test', addresses: [], cname: [] }],
    };
    expect(tableRow(r)).toBe(`${'evil.test'.padEnd(32)} warn     10 a\\\\x1b.test\n`);
  });

  it('JSON keeps the names exactly as they came', () => {
    const r = hostileResult();
    const back = JSON.parse(JSON.stringify(jsonObject(r))) as CheckResult;
    expect(back.mx[0]?.exchange).toBe(HOSTILE);
    expect(back.findings).toEqual(r.findings);
  });
});

describe('a hostile exchange name from a DNS server', () => {
  const MX = (name: string, preference: number, exchange: string): Answer => ({
    type: 'MX',
    name,
    ttl: 60,
    data: { preference, exchange },
  });
  let dns: FakeDns;
  beforeAll(async () => {
    dns = await startFakeDns({
      records: {
        'evil.test': [MX('evil.test', 10, HOSTILE)],
        [HOSTILE]: [{ type: 'A', name: HOSTILE, ttl: 60, data: '127.0.0.1' }],
      },
    });
  });
  afterAll(async () => {
    await dns.close();
  });

  async function run(...args: string[]) {
    const io = createMemoryIo();
    const exit = await runCli(
      'mx-check',
      buildProgram,
      ['node', 'mx-check', '--resolver', `127.0.0.1:${dns.port}`, '--timeout', '500ms', '--retries', '0', ...args],
      io,
    );
    return { exit, out: io.out(), err: io.err() };
  }

  it('reaches the table escaped', async () => {
    const r = await run('evil.test');
    expect(r.out).toContain(`${'evil.test'.padEnd(32)} fail     10 ${SHOWN} (127.0.0.1)\n`);
    expect(r.out).toContain(`    fail MX_LOCALHOST [MX 10 ${SHOWN}.]: ${SHOWN} has address 127.0.0.1 (loopback)\n`);
    expect(r.out).not.toMatch(CONTROL);
    expect(r.exit).toBe(1);
  });

  it('reaches JSON unchanged', async () => {
    const r = await run('--json', 'evil.test');
    const got = JSON.parse(r.out) as CheckResult;
    expect(got.mx).toEqual([{ preference: 10, exchange: HOSTILE, addresses: ['127.0.0.1'], cname: [] }]);
    expect(got.findings[0]).toEqual({
      code: 'MX_LOCALHOST',
      severity: 'fail',
      record: `MX 10 ${HOSTILE}.`,
      detail: `${HOSTILE} has address 127.0.0.1 (loopback)`,
    });
  });
});
