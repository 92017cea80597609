import { mkdtemp, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUserError, runCli } from '@toolbox/shared';
import { createMemoryIo } from '@toolbox/shared/testing';
import { buildProgram } from '../cli.js';
import { formatSummary, JSON_KEYS, runParse, type ParseCommandOptions } from './parse-command.js';

const FIXTURE = new URL('../fixtures/mixed-versions.querylog.txt', import.meta.url);
/** The fixture's mtime in these tests: its syslog line (Nov 25, no year) is then from 2026. */
const MTIME = new Date(2026, 10, 26, 12, 0, 0);

function opts(over: Partial<ParseCommandOptions> = {}): ParseCommandOptions {
  return { json: true, stdin: Readable.from([]), now: () => MTIME, ...over };
}

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dnslog-parse-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fixtureCopy(name = 'query.log', content?: Buffer | string, mtime = MTIME): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content ?? (await readFile(FIXTURE)));
  await utimes(path, mtime, mtime);
  return path;
}

const parseJson = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('runParse --json', () => {
  it('prints one object per query line with exactly the documented keys, in order', async () => {
    const io = createMemoryIo();
    const summary = await runParse([await fixtureCopy()], opts(), io);
    const rows = parseJson(io.out());
    expect(rows).toHaveLength(7);
    for (const row of rows) expect(Object.keys(row)).toEqual([...JSON_KEYS]);
    expect(rows[0]).toEqual({
      line: 1,
      time: '2026-11-25T09:38:30.348',
      client_ip: '127.0.0.1',
      client_port: 54825,
      view: null,
      qname: 'example.test',
      qclass: 'IN',
      qtype: 'MX',
      flags: '+E(0)K',
      rd: true,
      edns: 0,
      tcp: false,
      do: false,
      cd: false,
      signed: false,
      cookie: 'present',
      dest_ip: '127.0.0.1',
      dest_port: null,
      ecs: null,
      signer: null,
    });
    expect(rows.map((r) => r.line)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(rows[3]).toMatchObject({ line: 5, time: null, signer: 'tsig-key.example.', view: 'internal', signed: true, rd: false });
    expect(rows[5]).toMatchObject({ line: 7, time: '2026-11-25T09:38:31.000', ecs: '203.0.113.0/24/0', cookie: 'present' });
    expect(rows[6]).toEqual({
      line: 8,
      time: '2026-11-25T09:38:32.001',
      client_ip: '2001:db8::1',
      client_port: 5353,
      view: 'my view',
      qname: 'example.com',
      qclass: 'CLASS255',
      qtype: 'TYPE65',
      flags: '-SE(0)TDCV',
      rd: false,
      edns: 0,
      tcp: true,
      do: true,
      cd: true,
      signed: true,
      cookie: 'valid',
      dest_ip: '2001:db8::53',
      dest_port: 5353,
      ecs: null,
      signer: null,
    });
    expect(summary).toEqual({ lines: 10, rows: 7, skipped: 3, skippedByReason: { not_query: 2, truncated: 1 } });
    expect(io.exitCode()).toBe(1);
  });

  it('prints the rejected lines (first 10) and a one-line summary to stderr', async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy();
    await runParse([path], opts(), io);
    const fixtureLines = (await readFile(FIXTURE, 'latin1')).split('\n');
    expect(fixtureLines[8]?.length).toBeGreaterThan(120);
    expect(io.err().split('\n')).toEqual([
      `skipped ${path}:3 (not_query): "25-Nov-2026 09:38:30.350 lame-servers: info: error (network unreachable) resolving 'example.com/A/IN': 2001:db8::53#53"`,
      `skipped ${path}:9 (not_query): ${JSON.stringify(`${fixtureLines[8]?.slice(0, 120)}…`)}`,
      `skipped ${path}:10 (truncated): "25-Nov-2026 09:38:33.100 queries: info: client @0x7f3729afc098 127.0.0.1#54825 (exa"`,
      'dnslog parse: 10 lines, 7 rows, 3 skipped (not_query 2, truncated 1)',
      '',
    ]);
  });

  it('exits 0 when every line is a query', async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy('clean.log', 'client 10.0.0.1#1234: query: example.com IN A +\n');
    const summary = await runParse([path], opts(), io);
    expect(summary).toEqual({ lines: 1, rows: 1, skipped: 0, skippedByReason: {} });
    expect(io.exitCode()).toBe(0);
    expect(io.err()).toBe('dnslog parse: 1 line, 1 row, 0 skipped\n');
  });

  it('reads stdin when no file is given, lines split across chunks, CRLF and no final newline', async () => {
    const io = createMemoryIo();
    const text =
      'client 10.0.0.1#1234: query: a.example IN A +\r\nclient 10.0.0.2#99: query: b.example IN AAAA -\nnot a query line\nclient 10.0.0.3#1: query: c.example IN A +E';
    const chunks = [text.slice(0, 17), text.slice(17, 50), text.slice(50, 51), text.slice(51)];
    const summary = await runParse([], opts({ stdin: Readable.from(chunks.map((c) => Buffer.from(c))) }), io);
    const rows = parseJson(io.out());
    expect(rows.map((r) => [r.line, r.client_ip, r.client_port, r.qname, r.qtype, r.rd])).toEqual([
      [1, '10.0.0.1', 1234, 'a.example', 'A', true],
      [2, '10.0.0.2', 99, 'b.example', 'AAAA', false],
    ]);
    // The last line has no newline: it may be `+E(0)K` cut short, so it is not a row.
    expect(summary.skippedByReason).toEqual({ not_query: 1, truncated: 1 });
    expect(io.err()).toContain('skipped stdin:3 (not_query): "not a query line"');
    expect(io.err()).toContain('skipped stdin:4 (truncated): "client 10.0.0.3#1: query: c.example IN A +E"');
  });

  it("takes stdin's syslog year from the injected clock", async () => {
    const io = createMemoryIo();
    const stdin = Readable.from([
      'Dec 31 23:59:59 ns1 named[1]: client 192.0.2.1#5: query: a.test IN A +\nJan  1 00:00:00 ns1 named[1]: client 192.0.2.1#5: query: a.test IN A +\n',
    ]);
    await runParse(['-'], opts({ stdin, now: () => new Date(2027, 0, 1, 0, 5) }), io);
    expect(parseJson(io.out()).map((r) => r.time)).toEqual(['2026-12-31T23:59:59.000', '2027-01-01T00:00:00.000']);
  });

  it("uses each file's mtime for syslog years: a December line in a file last written in January", async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy(
      'syslog.log',
      'Dec 31 23:59:59 ns1 named[1]: client 192.0.2.1#5: query: a.test IN A +\n',
      new Date(2027, 0, 5),
    );
    await runParse([path], opts({ now: () => new Date(2030, 5, 1) }), io);
    expect(parseJson(io.out()).map((r) => r.time)).toEqual(['2026-12-31T23:59:59.000']);
  });

  it('decompresses .gz files, numbers lines per input and totals the summary', async () => {
    const io = createMemoryIo();
    const plain = await fixtureCopy();
    const gz = await fixtureCopy('query.log.1.gz', gzipSync(await readFile(FIXTURE)));
    const summary = await runParse([plain, gz], opts(), io);
    const rows = parseJson(io.out());
    expect(rows).toHaveLength(14);
    expect(rows.slice(7)).toEqual(rows.slice(0, 7));
    expect(summary).toEqual({ lines: 20, rows: 14, skipped: 6, skippedByReason: { not_query: 4, truncated: 2 } });
  });

  it('counts a 100 kB line once as too_long and keeps numbering the lines after it', async () => {
    const io = createMemoryIo();
    const long = `client 10.0.0.1#1234: query: ${'x'.repeat(100_000)} IN A +`;
    const path = await fixtureCopy('long.log', `${long}\nclient 10.0.0.1#1234: query: after.example IN A +\n${'\0'.repeat(40_000)}\n`);
    const summary = await runParse([path], opts(), io);
    expect(summary).toEqual({ lines: 3, rows: 1, skipped: 2, skippedByReason: { too_long: 2 } });
    expect(parseJson(io.out()).map((r) => [r.line, r.qname])).toEqual([[2, 'after.example']]);
  });

  it('binary junk is counted as binary, shown escaped', async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy('junk.log', Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]));
    const summary = await runParse([path], opts(), io);
    expect(summary.skippedByReason).toEqual({ binary: 1 });
    expect(io.err()).toContain(`skipped ${path}:1 (binary): "\\u0000\\u0001ÿþ\\u001b[2J"`);
  });

  it('streams a 20 MB input through in batches with the right counts', async () => {
    const io = createMemoryIo();
    let bytes = 0;
    const lines = 200_000;
    function* gen() {
      for (let i = 0; i < lines; i += 1000) {
        let chunk = '';
        for (let j = i; j < i + 1000; j++)
          chunk += `25-Nov-2026 09:38:30.${String(j % 1000).padStart(3, '0')} queries: info: client @0x7f 10.0.${j % 256}.1#${1024 + (j % 5000)} (h${j}.example): query: h${j}.example IN A +E(0)K (192.0.2.53)\n`;
        bytes += chunk.length;
        yield Buffer.from(chunk);
      }
    }
    let outBytes = 0;
    io.stdout.removeAllListeners('data');
    io.stdout.on('data', (d: Buffer) => (outBytes += d.length));
    const summary = await runParse([], opts({ stdin: Readable.from(gen()) }), io);
    expect(summary).toEqual({ lines, rows: lines, skipped: 0, skippedByReason: {} });
    expect(bytes).toBeGreaterThan(20_000_000);
    expect(outBytes).toBeGreaterThan(bytes);
    expect(io.out()).toBe('');
  });

  it('stops quietly when the reader goes away (| head)', async () => {
    const io = createMemoryIo();
    io.stdout.removeAllListeners('data');
    io.stdout.write = () => {
      io.stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      return false;
    };
    const stdin = Readable.from([Buffer.from('client 10.0.0.1#1: query: a IN A +\n'.repeat(100_000))]);
    const summary = await runParse([], opts({ stdin }), io);
    expect(summary.lines).toBeLessThan(100_000);
  });
});

describe('runParse table output', () => {
  it('prints a header and tab-separated rows, - for empty fields', async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy();
    await runParse([path], opts({ json: false }), io);
    const lines = io.out().split('\n');
    expect(lines[0]).toBe('line\ttime\tclient_ip\tclient_port\tview\tqname\tqclass\tqtype\tflags\tdest_ip\tdest_port\tecs\tsigner');
    expect(lines[1]).toBe('1\t2026-11-25T09:38:30.348\t127.0.0.1\t54825\t-\texample.test\tIN\tMX\t+E(0)K\t127.0.0.1\t-\t-\t-');
    expect(lines[4]).toBe('5\t-\t10.0.0.1\t1234\tinternal\texample.com\tIN\tSOA\t-S\t-\t-\t-\ttsig-key.example.');
    expect(lines).toHaveLength(1 + 7 + 1);
    expect(io.exitCode()).toBe(1);
  });
});

describe('runParse errors', () => {
  it('a missing file is a UserError naming it, before any output', async () => {
    const io = createMemoryIo();
    const good = await fixtureCopy();
    const missing = join(dir, 'nope.log');
    const err: unknown = await runParse([good, missing], opts(), io).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toBe(`cannot read ${missing}: no such file; give a readable query log file (.gz is decompressed)`);
    expect((err as { code: string }).code).toBe('E_READ');
    expect(io.out()).toBe('');
  });

  it('a directory is a UserError', async () => {
    const io = createMemoryIo();
    const sub = join(dir, 'logs');
    await mkdir(sub);
    await expect(runParse([sub], opts(), io)).rejects.toThrow(
      `cannot read ${sub}: is a directory; give a readable query log file (.gz is decompressed)`,
    );
  });

  it('a .gz file that is not gzip is a UserError', async () => {
    const io = createMemoryIo();
    const path = await fixtureCopy('bad.log.gz', 'this is not gzip\n');
    await expect(runParse([path], opts(), io)).rejects.toThrow(
      /^cannot read .*bad\.log\.gz: not valid gzip data \(incorrect header check\); give a readable/,
    );
  });
});

describe('dnslog parse (cli wiring)', () => {
  async function cli(...args: string[]) {
    const io = createMemoryIo();
    const exit = await runCli('dnslog', buildProgram, ['node', 'dnslog', ...args], io);
    return { exit, out: io.out(), err: io.err() };
  }

  it('parses files given on the command line, --json, exit 1 on skipped lines', async () => {
    const r = await cli('parse', '--json', await fixtureCopy());
    expect(r.exit).toBe(1);
    expect(parseJson(r.out)).toHaveLength(7);
    expect(r.err).toContain('dnslog parse: 10 lines, 7 rows, 3 skipped (not_query 2, truncated 1)');
  });

  it('exits 0 on a clean file and 2 with one line for a missing one', async () => {
    const clean = await cli('parse', await fixtureCopy('clean.log', 'client 10.0.0.1#1234: query: example.com IN A +\n'));
    expect(clean.exit).toBe(0);
    const missing = await cli('parse', join(dir, 'nope.log'));
    expect(missing.exit).toBe(2);
    expect(missing.err).toBe(
      `dnslog: cannot read ${join(dir, 'nope.log')}: no such file; give a readable query log file (.gz is decompressed)\n`,
    );
  });

  it('is listed in --help', async () => {
    const r = await cli('parse', '--help');
    expect(r.exit).toBe(0);
    expect(r.out).toContain('Usage: dnslog parse [options] [file...]');
    expect(r.out).toContain('--json');
  });

  it('formatSummary pluralises', () => {
    expect(formatSummary({ lines: 1, rows: 0, skipped: 1, skippedByReason: { binary: 1 } })).toBe('1 line, 0 rows, 1 skipped (binary 1)');
  });
});
