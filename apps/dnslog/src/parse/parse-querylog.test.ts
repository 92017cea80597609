import { describe, expect, it } from 'vitest';
import {
  createParseContext,
  MAX_LINE_LENGTH,
  parseQueryLine,
  REJECT_REASONS,
  type ParseContext,
  type QueryRecord,
  type RejectReason,
} from './parse-querylog.js';
import type { QueryRow } from '../store/row.js';

// A record with a time is a QueryRow as the stores take it (compile-time check, run by tsc).
type IsRow<T> = T extends QueryRow ? true : false;
const recordIsRow: IsRow<QueryRecord & { time: string }> = true;

/** 26 Nov 2026, noon, local time: the reference (mtime) unless a test says otherwise. */
const REF = new Date(2026, 10, 26, 12, 0, 0);

function parse(line: string, ctx: ParseContext = createParseContext(REF)) {
  return parseQueryLine(line, ctx);
}

function reasonOf(line: string, ctx?: ParseContext): RejectReason | 'query' {
  const r = parse(line, ctx);
  return r.kind === 'reject' ? r.reason : 'query';
}

/** Every field empty; tests spell out every field that is not. toEqual then checks the whole record. */
function rec(fields: Partial<QueryRecord>): QueryRecord {
  return {
    kind: 'query',
    time: null,
    zone: null,
    clientIp: '',
    clientPort: 0,
    view: null,
    qname: '',
    qclass: '',
    qtype: '',
    flags: '',
    rd: false,
    edns: null,
    tcp: false,
    do: false,
    cd: false,
    signed: false,
    cookie: null,
    destIp: null,
    destPort: null,
    ecs: null,
    signer: null,
    ...fields,
  };
}

// Real lines written by BIND 9.18 (see the BIND notes).
const REAL_918 = [
  '25-Nov-2026 09:38:30.348 queries: info: client @0x7f3729afc098 127.0.0.1#54825 (example.test): query: example.test IN MX +E(0)K (127.0.0.1)',
  '25-Nov-2026 09:38:31.002 queries: info: client @0x7f372b61f898 ::1#36049 (nullmx.example.test): query: nullmx.example.test IN MX +E(0)TK (::1)',
  '25-Nov-2026 09:38:32.917 queries: info: client @0x7f3729afc098 127.0.0.1#44985 (example.test): query: example.test IN MX + (127.0.0.1)',
] as const;

describe('parseQueryLine: real BIND 9.18 lines', () => {
  it('parses the three lines from the notes exactly', () => {
    expect(recordIsRow).toBe(true);
    const ctx = createParseContext(REF);
    expect(parse(REAL_918[0], ctx)).toEqual(
      rec({
        time: '2026-11-25 09:38:30.348',
        clientIp: '127.0.0.1',
        clientPort: 54825,
        qname: 'example.test',
        qclass: 'IN',
        qtype: 'MX',
        flags: '+E(0)K',
        rd: true,
        edns: 0,
        cookie: 'present',
        destIp: '127.0.0.1',
      }),
    );
    expect(parse(REAL_918[1], ctx)).toEqual(
      rec({
        time: '2026-11-25 09:38:31.002',
        clientIp: '::1',
        clientPort: 36049,
        qname: 'nullmx.example.test',
        qclass: 'IN',
        qtype: 'MX',
        flags: '+E(0)TK',
        rd: true,
        edns: 0,
        tcp: true,
        cookie: 'present',
        destIp: '::1',
      }),
    );
    expect(parse(REAL_918[2], ctx)).toEqual(
      rec({
        time: '2026-11-25 09:38:32.917',
        clientIp: '127.0.0.1',
        clientPort: 44985,
        qname: 'example.test',
        qclass: 'IN',
        qtype: 'MX',
        flags: '+',
        rd: true,
        destIp: '127.0.0.1',
      }),
    );
  });

  it('ignores a trailing CR (a CRLF file)', () => {
    expect(parse(`${REAL_918[0]}\r`)).toEqual(parse(REAL_918[0]));
  });
});

describe('parseQueryLine: every BIND version shape', () => {
  it('9.3-9.8: client ADDR#PORT: query:, no time', () => {
    expect(parse('client 10.0.0.1#1234: query: example.com IN A +')).toEqual(
      rec({ clientIp: '10.0.0.1', clientPort: 1234, qname: 'example.com', qclass: 'IN', qtype: 'A', flags: '+', rd: true }),
    );
  });

  it('9.3-9.8 with print-time, category, severity and a view', () => {
    expect(parse('25-Nov-2006 09:38:30.348 queries: info: client 10.0.0.1#1234: view internal: query: www.example.com IN AAAA -E')).toEqual(
      rec({
        time: '2006-11-25 09:38:30.348',
        clientIp: '10.0.0.1',
        clientPort: 1234,
        view: 'internal',
        qname: 'www.example.com',
        qclass: 'IN',
        qtype: 'AAAA',
        flags: '-E',
        edns: -1,
      }),
    );
  });

  it('9.3-9.8 with /key after the address (TSIG signer), with and without a view', () => {
    expect(parse('client 10.0.0.1#1234/key tsig-key.example.: query: example.com IN SOA -S')).toEqual(
      rec({
        clientIp: '10.0.0.1',
        clientPort: 1234,
        signer: 'tsig-key.example.',
        qname: 'example.com',
        qclass: 'IN',
        qtype: 'SOA',
        flags: '-S',
        signed: true,
      }),
    );
    expect(parse('client 10.0.0.1#1234/key k1: view external: query: example.com IN TXT +SE')).toEqual(
      rec({
        clientIp: '10.0.0.1',
        clientPort: 1234,
        signer: 'k1',
        view: 'external',
        qname: 'example.com',
        qclass: 'IN',
        qtype: 'TXT',
        flags: '+SE',
        rd: true,
        signed: true,
        edns: -1,
      }),
    );
  });

  it('9.9: the (qname) after the client, no destination', () => {
    expect(parse('client 192.0.2.10#53124 (www.example.com): query: www.example.com IN A +ED')).toEqual(
      rec({
        clientIp: '192.0.2.10',
        clientPort: 53124,
        qname: 'www.example.com',
        qclass: 'IN',
        qtype: 'A',
        flags: '+ED',
        rd: true,
        edns: -1,
        do: true,
      }),
    );
  });

  it('9.10: the destination address at the end', () => {
    expect(parse('client 192.0.2.10#53124 (www.example.com): query: www.example.com IN A +EDC (192.0.2.53)')).toEqual(
      rec({
        clientIp: '192.0.2.10',
        clientPort: 53124,
        qname: 'www.example.com',
        qclass: 'IN',
        qtype: 'A',
        flags: '+EDC',
        rd: true,
        edns: -1,
        do: true,
        cd: true,
        destIp: '192.0.2.53',
      }),
    );
  });

  it('9.11: the @0x client object and E(n)', () => {
    expect(
      parse(
        '25-Nov-2026 09:38:30.348 client @0x7f1d2c0a4e10 192.0.2.10#53124 (www.example.com): query: www.example.com IN A +E(0)DV (192.0.2.53)',
      ),
    ).toEqual(
      rec({
        time: '2026-11-25 09:38:30.348',
        clientIp: '192.0.2.10',
        clientPort: 53124,
        qname: 'www.example.com',
        qclass: 'IN',
        qtype: 'A',
        flags: '+E(0)DV',
        rd: true,
        edns: 0,
        do: true,
        cookie: 'valid',
        destIp: '192.0.2.53',
      }),
    );
  });

  it('9.16+: /key, (qname) and view together', () => {
    expect(
      parse(
        'client @0x7f0c1c0b2168 192.0.2.10#40000/key xfr-key (example.com): view internal: query: example.com IN AXFR -ST (192.0.2.53)',
      ),
    ).toEqual(
      rec({
        clientIp: '192.0.2.10',
        clientPort: 40000,
        signer: 'xfr-key',
        view: 'internal',
        qname: 'example.com',
        qclass: 'IN',
        qtype: 'AXFR',
        flags: '-ST',
        signed: true,
        tcp: true,
        destIp: '192.0.2.53',
      }),
    );
  });

  it('a view name with a space', () => {
    const r = parse('client @0x55d0 192.0.2.10#40000 (example.com): view my view: query: example.com IN A + (192.0.2.53)');
    expect(r).toMatchObject({ kind: 'query', view: 'my view', qname: 'example.com' });
  });

  it('the [ECS addr/source/scope] suffix, IPv4 and IPv6', () => {
    expect(
      parse('client @0x7f 198.51.100.7#11111 (cdn.example.com): query: cdn.example.com IN A +E(0)K (192.0.2.53) [ECS 203.0.113.0/24/0]'),
    ).toEqual(
      rec({
        clientIp: '198.51.100.7',
        clientPort: 11111,
        qname: 'cdn.example.com',
        qclass: 'IN',
        qtype: 'A',
        flags: '+E(0)K',
        rd: true,
        edns: 0,
        cookie: 'present',
        destIp: '192.0.2.53',
        ecs: '203.0.113.0/24/0',
      }),
    );
    expect(
      parse(
        'client @0x7f 2001:db8::7#11111 (cdn.example.com): query: cdn.example.com IN AAAA +E(0) (2001:db8::53) [ECS 2001:db8:1::/48/56]',
      ),
    ).toMatchObject({
      ecs: '2001:db8:1::/48/56',
      destIp: '2001:db8::53',
    });
  });

  it('IPv6 clients and destinations, scoped, v4-mapped, and a destination with a port', () => {
    expect(parse('client @0x7f 2001:db8::1#5353 (example.com): query: example.com IN AAAA -E(0)DC (2001:db8::53)')).toEqual(
      rec({
        clientIp: '2001:db8::1',
        clientPort: 5353,
        qname: 'example.com',
        qclass: 'IN',
        qtype: 'AAAA',
        flags: '-E(0)DC',
        edns: 0,
        do: true,
        cd: true,
        destIp: '2001:db8::53',
      }),
    );
    expect(parse('client @0x7f fe80::1%eth0#53 (example.com): query: example.com IN A + (fe80::53%eth0)')).toMatchObject({
      clientIp: 'fe80::1%eth0',
      clientPort: 53,
      destIp: 'fe80::53%eth0',
    });
    expect(parse('client @0x7f ::ffff:192.0.2.1#5 (example.com): query: example.com IN A + (::ffff:192.0.2.53)')).toMatchObject({
      clientIp: '::ffff:192.0.2.1',
      clientPort: 5,
      destIp: '::ffff:192.0.2.53',
    });
    expect(parse('client @0x7f ::1#40001 (example.com): query: example.com IN A + (::1#5353)')).toMatchObject({
      destIp: '::1',
      destPort: 5353,
    });
    expect(parse('client @0x7f 127.0.0.1#40001 (example.com): query: example.com IN A + (192.0.2.53#53)')).toMatchObject({
      destIp: '192.0.2.53',
      destPort: 53,
    });
  });

  it.each([
    ['CH', 'TXT', 'version.bind'],
    ['CLASS255', 'TYPE65', 'example.com'],
    ['IN', 'HTTPS', 'example.com'],
    ['IN', 'ANY', 'example.com'],
    ['HS', 'A', 'example.com'],
    ['IN', 'NSAP-PTR', 'example.com'],
    ['IN', 'TYPE65534', '.'],
  ])('class %s type %s', (qclass, qtype, qname) => {
    expect(parse(`client @0x7f 127.0.0.1#4 (${qname}): query: ${qname} ${qclass} ${qtype} - (127.0.0.1)`)).toMatchObject({
      kind: 'query',
      qname,
      qclass,
      qtype,
    });
  });

  it('print-severity alone, print-category alone, and a debug severity', () => {
    const tail = 'client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A + (127.0.0.1)';
    for (const prefix of ['info: ', 'queries: ', 'queries: debug 1: ', '']) {
      expect(parse(`25-Nov-2026 09:38:30.348 ${prefix}${tail}`)).toMatchObject({
        kind: 'query',
        time: '2026-11-25 09:38:30.348',
        qname: 'a.test',
      });
    }
  });
});

describe('parseQueryLine: optional trailing fields in every shape and time format', () => {
  // Every shape's client part, from 9.3 to 9.21.
  const clients = [
    'client 10.0.0.1#1234: ',
    'client 10.0.0.1#1234/key k1: view v: ',
    'client 192.0.2.10#53124 (q.example): ',
    'client 192.0.2.10#53124 (q.example): view v: ',
    'client @0x7f 192.0.2.10#53124 (q.example): ',
    'client @0x7f 192.0.2.10#40000/key k1 (q.example): view v: ',
  ];
  // Every time format and header, with and without category and severity.
  const heads = [
    '',
    '25-Nov-2026 09:38:30.348 ',
    '25-Nov-2026 09:38:30.348 queries: info: ',
    '2026-11-25T09:38:30.348 ',
    '2026-11-25T08:38:30.348Z queries: info: ',
    '2026-11-25T09:38:30.348+0100 ',
    'Nov 25 09:38:30 ns1 named[1]: ',
    '<30>Nov 25 09:38:30 ns1 named[1]: queries: info: ',
    '<30>named[1]: ',
    '2026-11-25T09:38:30.348+01:00 ns1 named[1]: ',
    '<30>1 2026-11-25T08:38:30.348Z ns1 named 1 - - ',
  ];
  // What some versions and builds write after the flags, or leave out.
  const tails = [
    ['', null, null],
    [' (192.0.2.53)', '192.0.2.53', null],
    [' (192.0.2.53) [ECS 203.0.113.0/24/0]', '192.0.2.53', '203.0.113.0/24/0'],
    [' [ECS 203.0.113.0/24/0]', null, '203.0.113.0/24/0'],
  ] as const;

  it.each(clients)(
    '%s: any time format, with or without the destination and ECS (regression: a 9.11+ line without its destination was truncated)',
    (client) => {
      for (const head of heads) {
        for (const [tail, destIp, ecs] of tails) {
          const line = `${head}${client}query: q.example IN A +E(0)K${tail}`;
          expect(parse(line), line).toMatchObject({ kind: 'query', qname: 'q.example', qtype: 'A', flags: '+E(0)K', edns: 0, destIp, ecs });
        }
      }
    },
  );

  it('a field every shape has is still required: no flags, no type, no port', () => {
    for (const head of heads) {
      expect(reasonOf(`${head}client @0x7f 192.0.2.10#5 (q.example): query: q.example IN A (192.0.2.53)`)).toBe('bad_flags');
      expect(reasonOf(`${head}client 192.0.2.10#5: query: q.example IN`)).toBe('truncated');
      expect(reasonOf(`${head}client 192.0.2.10: query: q.example IN A +`)).toBe('bad_client');
    }
  });

  it('a trailing field that is there must be well-formed', () => {
    const line = (tail: string) => `client 192.0.2.10#5: query: q.example IN A +${tail}`;
    expect(reasonOf(line(' [ECS ]'))).toBe('malformed');
    expect(reasonOf(line(' [ECS 203.0.113.0/24/0] (192.0.2.53)'))).toBe('malformed');
    expect(reasonOf(line(' [ECS 203.0.113.0/24/0'))).toBe('truncated');
    expect(reasonOf(line(' (192.0.2.53'))).toBe('truncated');
    expect(reasonOf(line(' junk'))).toBe('malformed');
  });
});

describe('parseQueryLine: flags', () => {
  it.each([
    ['+', { rd: true }],
    ['-', {}],
    ['+E', { rd: true, edns: -1 }],
    ['+E(0)', { rd: true, edns: 0 }],
    ['-E(1)', { edns: 1 }],
    ['+E(255)', { rd: true, edns: 255 }],
    ['+S', { rd: true, signed: true }],
    ['+T', { rd: true, tcp: true }],
    ['+D', { rd: true, do: true }],
    ['+C', { rd: true, cd: true }],
    ['+K', { rd: true, cookie: 'present' }],
    ['+V', { rd: true, cookie: 'valid' }],
    ['+KV', { rd: true, cookie: 'valid' }],
    ['+VK', { rd: true, cookie: 'valid' }],
    ['-SE(0)TDCV', { signed: true, edns: 0, tcp: true, do: true, cd: true, cookie: 'valid' }],
    ['+VCDTE(0)S', { rd: true, signed: true, edns: 0, tcp: true, do: true, cd: true, cookie: 'valid' }],
    ['-KDE', { edns: -1, do: true, cookie: 'present' }],
  ] as const)('%s', (flags, fields) => {
    expect(parse(`client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A ${flags} (127.0.0.1)`)).toEqual(
      rec({ clientIp: '127.0.0.1', clientPort: 4, qname: 'a.test', qclass: 'IN', qtype: 'A', flags, destIp: '127.0.0.1', ...fields }),
    );
  });

  it.each(['+X', '*', 'E', '+E(x)', '+E()', '+E(256)', '+E(0', '+e'])('rejects %s as bad_flags', (flags) => {
    expect(reasonOf(`client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A ${flags} (127.0.0.1)`)).toBe('bad_flags');
  });
});

describe('parseQueryLine: timestamps', () => {
  const tail = 'queries: info: client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A + (127.0.0.1)';

  it.each([
    ['25-Nov-2026 09:38:30.348', '2026-11-25 09:38:30.348', null],
    ['25-Nov-2026 09:38:30', '2026-11-25 09:38:30.000', null],
    ['25-Nov-2026 09:38:30.5', '2026-11-25 09:38:30.500', null],
    ['25-Nov-2026 09:38:30.123456', '2026-11-25 09:38:30.123', null],
    ['01-Jan-2027 00:00:00.000', '2027-01-01 00:00:00.000', null],
    ['29-Feb-2028 23:59:60.999', '2028-02-29 23:59:60.999', null],
    // print-time iso8601 (local), iso8601-utc, 9.21 iso8601-tzinfo: the wall clock as written.
    ['2026-11-25T09:38:30.348', '2026-11-25 09:38:30.348', null],
    ['2026-11-25T08:38:30.348Z', '2026-11-25 08:38:30.348', 'Z'],
    ['2026-11-25T09:38:30.348+0100', '2026-11-25 09:38:30.348', '+0100'],
    ['2026-11-25T09:38:30.348-05:00', '2026-11-25 09:38:30.348', '-05:00'],
  ])('%s', (written, time, zone) => {
    expect(parse(`${written} ${tail}`)).toMatchObject({ kind: 'query', time, zone });
  });

  it('keeps each line its own milliseconds while the second repeats', () => {
    const ctx = createParseContext(REF);
    const times = ['09:38:30.348', '09:38:30.999', '09:38:31.000', '09:38:31.001'].map(
      (t) => (parse(`25-Nov-2026 ${t} ${tail}`, ctx) as QueryRecord).time,
    );
    expect(times).toEqual(['2026-11-25 09:38:30.348', '2026-11-25 09:38:30.999', '2026-11-25 09:38:31.000', '2026-11-25 09:38:31.001']);
  });

  it.each([
    '32-Nov-2026 09:38:30.348',
    '25-Foo-2026 09:38:30.348',
    '29-Feb-2026 09:38:30.348',
    '25-Nov-2026 24:00:00.000',
    '25-Nov-2026 09:60:00.000',
    '25-Nov-26 09:38:30.348 xxxxxxxxxxxxxx',
    '2026-13-25T09:38:30.348',
    '2026-11-25T09:38:30.348+xx',
    '25-Nov-2026 09:38:30.348x',
    '1700000000.123',
  ])('rejects %s as bad_time', (written) => {
    expect(reasonOf(`${written} ${tail}`)).toBe('bad_time');
  });
});

describe('parseQueryLine: syslog', () => {
  const msg = 'client @0x7f 192.0.2.10#53124 (example.com): query: example.com IN A +E(0) (192.0.2.53)';
  const expected = rec({
    time: '2026-11-25 09:38:30.000',
    clientIp: '192.0.2.10',
    clientPort: 53124,
    qname: 'example.com',
    qclass: 'IN',
    qtype: 'A',
    flags: '+E(0)',
    rd: true,
    edns: 0,
    destIp: '192.0.2.53',
  });

  it('with and without <PRI>, with and without a host, pid and category', () => {
    expect(parse(`<30>Nov 25 09:38:30 ns1 named[1234]: ${msg}`)).toEqual(expected);
    expect(parse(`Nov 25 09:38:30 ns1 named[1234]: ${msg}`)).toEqual(expected);
    expect(parse(`Nov 25 09:38:30 ns1 named: queries: info: ${msg}`)).toEqual(expected);
    expect(parse(`<30>Nov 25 09:38:30 named[1234]: ${msg}`)).toEqual(expected);
  });

  it('a space-padded day', () => {
    expect(parse(`Nov  5 09:38:30 ns1 named[1234]: ${msg}`)).toMatchObject({ time: '2026-11-05 09:38:30.000' });
  });

  it('<PRI> without a timestamp (as sent to /dev/log) has no time', () => {
    expect(parse(`<30>named[1234]: ${msg}`)).toEqual({ ...expected, time: null });
  });

  it("rsyslog's RFC 3339 timestamps: milliseconds kept, microseconds cut, zone as written", () => {
    expect(parse(`2026-11-25T09:38:30.348123+01:00 ns1 named[1234]: ${msg}`)).toEqual({
      ...expected,
      time: '2026-11-25 09:38:30.348',
      zone: '+01:00',
    });
  });

  it('RFC 5424, with nil and real structured data, and a nil timestamp', () => {
    expect(parse(`<30>1 2026-11-25T08:38:30.348Z ns1 named 1234 - - ${msg}`)).toEqual({
      ...expected,
      time: '2026-11-25 08:38:30.348',
      zone: 'Z',
    });
    expect(
      parse(`<30>1 2026-11-25T09:38:30.348+01:00 ns1 named 1234 QUERY [origin ip="192.0.2.1" x="a\\]b"][meta sequenceId="1"] ${msg}`),
    ).toEqual({
      ...expected,
      time: '2026-11-25 09:38:30.348',
      zone: '+01:00',
    });
    expect(parse(`<30>1 - ns1 named - - - ${msg}`)).toEqual({ ...expected, time: null });
  });

  it("BIND's own print-time inside a syslog message wins (it has the year and milliseconds)", () => {
    expect(parse(`<30>Nov 25 09:38:30 ns1 named[1]: 25-Nov-2026 09:38:30.348 queries: info: ${msg}`)).toEqual({
      ...expected,
      time: '2026-11-25 09:38:30.348',
    });
  });

  it('other programs and other named messages are not_query', () => {
    expect(reasonOf('Nov 25 09:38:30 ns1 sshd[99]: Accepted publickey for root from 192.0.2.1 port 22 ssh2')).toBe('not_query');
    expect(reasonOf('Nov 25 09:38:30 ns1 named[1]: 25 zones loaded, 0 failed')).toBe('not_query');
    expect(reasonOf('Nov 25 09:38:30 ns1 named[1]: all zones loaded')).toBe('not_query');
  });
});

describe('parseQueryLine: the syslog year', () => {
  const line = (stamp: string) => `${stamp} ns1 named[1]: client 192.0.2.1#5: query: a.test IN A +`;
  const timesOf = (ref: Date, stamps: string[]) => {
    const ctx = createParseContext(ref);
    return stamps.map((s) => {
      const r = parseQueryLine(line(s), ctx);
      return r.kind === 'query' ? r.time : r.reason;
    });
  };

  it('takes the reference year for a line not later than the reference', () => {
    expect(timesOf(new Date(2026, 10, 26), ['Nov 25 09:38:30'])).toEqual(['2026-11-25 09:38:30.000']);
  });

  it('a December line in a file whose reference is January is from the year before', () => {
    expect(timesOf(new Date(2027, 0, 5), ['Dec 31 23:59:59'])).toEqual(['2026-12-31 23:59:59.000']);
  });

  it('a line more than a day after the reference is from the year before; one day of slack for zones', () => {
    expect(timesOf(new Date(2026, 10, 26), ['Nov 27 01:00:00'])).toEqual(['2026-11-27 01:00:00.000']);
    expect(timesOf(new Date(2026, 10, 26), ['Nov 28 01:00:00'])).toEqual(['2025-11-28 01:00:00.000']);
  });

  it('Dec 31 → Jan 1 within one input moves to the next year (reference in January)', () => {
    expect(timesOf(new Date(2027, 0, 5), ['Dec 31 23:59:58', 'Dec 31 23:59:59', 'Jan  1 00:00:00', 'Jan  1 00:00:01'])).toEqual([
      '2026-12-31 23:59:58.000',
      '2026-12-31 23:59:59.000',
      '2027-01-01 00:00:00.000',
      '2027-01-01 00:00:01.000',
    ]);
  });

  it('Dec 31 → Jan 1 moves to the next year even when the reference is the first line (state, not reference)', () => {
    expect(timesOf(new Date(2026, 11, 31, 23, 59, 59), ['Dec 31 23:59:59', 'Jan  1 00:00:00', 'Feb  1 00:00:00'])).toEqual([
      '2026-12-31 23:59:59.000',
      '2027-01-01 00:00:00.000',
      '2027-02-01 00:00:00.000',
    ]);
  });

  it('a line out of order across New Year goes back a year, then forward again', () => {
    expect(timesOf(new Date(2027, 0, 5), ['Jan  1 00:00:00', 'Dec 31 23:59:59', 'Jan  1 00:00:01'])).toEqual([
      '2027-01-01 00:00:00.000',
      '2026-12-31 23:59:59.000',
      '2027-01-01 00:00:01.000',
    ]);
  });

  it("the first day of every month, with the reference late on the day before (its zone behind the line's), is this year's; New Year's is next year's", () => {
    // Regression: dates compared as month*32+day gave "May 1" with a reference of Apr 30 the year before,
    // and "Jan 1" with a reference of Dec 31 this year's 1 January.
    const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    for (let m = 0; m < 12; m++) {
      const lastDay = new Date(2026, m + 1, 0); // the last day of month m, 2026
      const ref = new Date(2026, m, lastDay.getDate(), 23, 30);
      const next = new Date(2026, m + 1, 1); // the first day of the month after
      const want = `${next.getFullYear()}-${String(next.getMonth() + 1).padStart(2, '0')}-01 00:30:00.000`;
      expect(timesOf(ref, [`${MON[next.getMonth()]}  1 00:30:00`]), `reference ${ref.toDateString()}`).toEqual([want]);
    }
  });

  it("the last day of every month, with the reference early on the day after, is that day of this year (or last year's Dec 31)", () => {
    const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    for (let m = 0; m < 12; m++) {
      const last = new Date(2027, m, 0); // the day before the 1st of month m, 2027
      const ref = new Date(2027, m, 1, 0, 30);
      const want = `${last.getFullYear()}-${String(last.getMonth() + 1).padStart(2, '0')}-${String(last.getDate()).padStart(2, '0')} 23:30:00.000`;
      expect(
        timesOf(ref, [`${MON[last.getMonth()]} ${String(last.getDate()).padStart(2, ' ')} 23:30:00`]),
        `reference ${ref.toDateString()}`,
      ).toEqual([want]);
    }
  });

  it('a line more than a day after the reference across a month end or New Year is from the year before', () => {
    expect(timesOf(new Date(2026, 3, 30, 12), ['May  2 00:30:00'])).toEqual(['2025-05-02 00:30:00.000']);
    expect(timesOf(new Date(2026, 11, 31, 12), ['Jan  2 00:30:00'])).toEqual(['2026-01-02 00:30:00.000']);
  });

  it('Feb 29 only in a leap year', () => {
    expect(timesOf(new Date(2028, 2, 1), ['Feb 29 12:00:00'])).toEqual(['2028-02-29 12:00:00.000']);
    expect(timesOf(new Date(2027, 2, 1), ['Feb 29 12:00:00'])).toEqual(['bad_time']);
    expect(timesOf(new Date(2026, 10, 26), ['Nov 31 12:00:00'])).toEqual(['bad_time']);
  });

  it('separate inputs keep separate years (no state shared between contexts)', () => {
    const a = createParseContext(new Date(2026, 10, 26));
    const b = createParseContext(new Date(2030, 10, 26));
    const l = line('Nov 25 09:38:30');
    expect((parseQueryLine(l, a) as QueryRecord).time).toBe('2026-11-25 09:38:30.000');
    expect((parseQueryLine(l, b) as QueryRecord).time).toBe('2030-11-25 09:38:30.000');
    expect((parseQueryLine(l, a) as QueryRecord).time).toBe('2026-11-25 09:38:30.000');
  });

  it('a dated BIND line sets the year that following syslog lines continue from', () => {
    const ctx = createParseContext(new Date(2030, 0, 1));
    expect(reasonOf(`31-Dec-2026 23:59:59.000 ${'client 192.0.2.1#5: query: a.test IN A +'}`, ctx)).toBe('query');
    expect((parseQueryLine(line('Jan  1 00:00:00'), ctx) as QueryRecord).time).toBe('2027-01-01 00:00:00.000');
  });
});

describe('parseQueryLine: names kept exactly as written', () => {
  const withName = (name: string) => `client @0x7f 192.0.2.1#5 (${name}): query: ${name} IN A + (192.0.2.53)`;

  it.each([
    String.raw`a\"b.example`,
    String.raw`back\\slash.example`,
    String.raw`dot\.in\.label.example`,
    String.raw`\000\255\032sp.example`,
    String.raw`paren\(\).example`,
    String.raw`semi\;at\@dollar\$.example`,
    'we#ird:name.example',
    '*.wild.example',
    '_dmarc.example',
    'UPPER.Example',
  ])('%s', (name) => {
    expect(parse(withName(name))).toMatchObject({ kind: 'query', qname: name, clientIp: '192.0.2.1', clientPort: 5, destIp: '192.0.2.53' });
  });

  it('a 1,000-character name', () => {
    const name = `${Array.from({ length: 15 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(61)}`).join('.')}.${'y'.repeat(40)}`;
    expect(name.length).toBe(1000);
    expect(parse(withName(name))).toMatchObject({ kind: 'query', qname: name });
  });

  it('an escaped signer and view', () => {
    expect(
      parse(String.raw`client @0x7f 192.0.2.1#5/key k\032ey.example (a.test): view "odd": query: a.test IN A +S (192.0.2.53)`),
    ).toMatchObject({
      signer: String.raw`k\032ey.example`,
      view: '"odd"',
      signed: true,
    });
  });
});

describe('parseQueryLine: rejects by reason', () => {
  it.each([
    ["25-Nov-2026 09:38:30.348 lame-servers: info: error (network unreachable) resolving 'example.com/A/IN': 2001:db8::53#53", 'not_query'],
    [
      "25-Nov-2026 09:38:30.348 security: info: client @0x7f3729afc098 192.0.2.10#53124 (example.com): query (cache) 'example.com/A/IN' denied",
      'not_query',
    ],
    ["client @0x7f3729afc098 192.0.2.10#53124 (example.com): query (cache) 'example.com/A/IN' denied", 'not_query'],
    ["client 192.0.2.10#53124: view internal: query (cache) 'example.com/A/IN' denied", 'not_query'],
    [
      '25-Nov-2026 09:38:30.348 query-errors: info: client @0x7f3729afc098 192.0.2.10#53124 (example.com): query failed (SERVFAIL) for example.com/IN/A at ../../../lib/ns/query.c:7376',
      'not_query',
    ],
    ['25-Nov-2026 09:38:30.348 general: notice: all zones loaded', 'not_query'],
    ['25-Nov-2026 09:38:30.348 starting BIND 9.18.28-1~deb12u2-Debian', 'not_query'],
    ['25-Nov-2026 09:38:30.348 a: b: c: d: e: client 192.0.2.1#5: query: a.test IN A +', 'not_query'],
    ['hello world', 'not_query'],
    ['', 'empty'],
    ['\r', 'empty'],
    ['client foo#53: query: example.com IN A +', 'bad_client'],
    ['client 10.0.0.1#70000: query: example.com IN A +', 'bad_client'],
    ['client 10.0.0.1#: query: example.com IN A +', 'bad_client'],
    ['client 10.0.0.1: query: example.com IN A +', 'bad_client'],
    ['client @0x7f3729afc098 (no-peer): query: example.com IN A + (127.0.0.1)', 'bad_client'],
    ['client @0x7f3729afc098: query: example.com IN A +', 'bad_client'],
    ['client 10.0.0.1#53x: query: example.com IN A +', 'bad_client'],
    ['client @0x7f 127.0.0.1#4 (a.test): query: a.test in a + (127.0.0.1)', 'malformed'],
    ['client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A + (127.0.0.1) extra', 'malformed'],
    ['client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A + (not-an-address)', 'malformed'],
    ['client @0x7f 127.0.0.1#4 (a.test): query: a.test IN A + (127.0.0.1) [ECS nonsense]', 'malformed'],
    ['client @0x7f 127.0.0.1#4 (a.test): query:  a.test IN A + (127.0.0.1)', 'malformed'],
    ['client @0x7f 127.0.0.1#4 junk: query: a.test IN A + (127.0.0.1)', 'malformed'],
    ['<9999>Nov 25 09:38:30 ns1 named[1]: client 192.0.2.1#5: query: a.test IN A +', 'malformed'],
  ] as const)('%s → %s', (line, reason) => {
    expect(reasonOf(line)).toBe(reason);
  });

  it('binary junk: NUL padding, control characters, U+FFFD, latin1 bytes, a CR inside', () => {
    expect(reasonOf(`\0\0\0\0${REAL_918[0]}`)).toBe('binary');
    expect(reasonOf(REAL_918[0].replace('example.test IN', 'exa\x01mple.test IN'))).toBe('binary');
    expect(reasonOf(REAL_918[0].replace('example.test IN', 'ex\ufffdample.test IN'))).toBe('binary');
    expect(reasonOf(REAL_918[0].replace('(127.0.0.1)', '(127.0.0.1)\xe9'))).toBe('binary');
    expect(reasonOf(REAL_918[0].replace(' IN ', ' IN\r'))).toBe('binary');
    expect(reasonOf('\x7f\x7f\x7f')).toBe('binary');
    expect(reasonOf(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).toString('latin1'))).toBe('binary');
  });

  it('a 100 kB line is too_long; a valid line of exactly MAX_LINE_LENGTH parses', () => {
    expect(reasonOf(`${REAL_918[0]}${'x'.repeat(100_000)}`)).toBe('too_long');
    expect(reasonOf('\0'.repeat(100_000))).toBe('too_long');
    const head = 'client @0x7f 192.0.2.1#5 (a.test): query: ';
    const tail = ' IN A + (192.0.2.53)';
    const name = 'n'.repeat(MAX_LINE_LENGTH - head.length - tail.length);
    expect(reasonOf(`${head}${name}${tail}`)).toBe('query');
    expect(reasonOf(`${head}${name}n${tail}`)).toBe('too_long');
  });

  it('a cut line is truncated, except where the cut leaves a complete shorter line: inside the flags or before an optional field', () => {
    // The parser alone cannot tell `+S` from `+SE` cut short, nor a line cut before its destination
    // from one written without: such cuts parse, and the reader's `unterminated` makes them truncated
    // rejects (parse-adapter.test.ts). This test used to accept them as rows in silence.
    const lines = [
      ...REAL_918,
      '25-Nov-2026 09:38:30.348 queries: info: client @0x7f0c1c0b2168 2001:db8::1#40000/key xfr-key (example.com): view internal: query: example.com IN AXFR -SE(0)T (2001:db8::53)',
      '<30>Nov  5 09:38:30 ns1 named[1234]: client @0x7f 192.0.2.10#53124 (example.com): query: example.com IN A +E(0) (192.0.2.53)',
      '2026-11-25T09:38:30.348123+01:00 ns1 named[1234]: queries: info: client @0x7f 192.0.2.10#53124 (example.com): query: example.com IN A +E(0) (192.0.2.53)',
      '<30>1 2026-11-25T08:38:30.348Z ns1 named 1234 - [a b="c"] client @0x7f 192.0.2.10#5 (example.com): query: example.com IN A + (192.0.2.53)',
      'client 10.0.0.1#1234/key k1: view external: query: example.com IN TXT +SE',
    ];
    for (const line of lines) {
      expect(reasonOf(line)).toBe('query');
      const qs = line.indexOf(' query: ') + 8;
      const fs = line.indexOf(' ', line.indexOf(' ', line.indexOf(' ', qs) + 1) + 1) + 1;
      const fe = line.indexOf(' ', fs) === -1 ? line.length : line.indexOf(' ', fs);
      const parsed: number[] = [];
      for (let n = 1; n < line.length; n++) {
        const r = parse(line.slice(0, n));
        if (r.kind === 'reject') expect(r.reason, line.slice(0, n)).toBe('truncated');
        else parsed.push(n);
      }
      expect(parsed.length, line).toBeGreaterThan(0);
      for (const n of parsed) expect(n > fs && (n <= fe || line[n] === ' '), line.slice(0, n)).toBe(true);
      if (fe < line.length) expect(parsed).toContain(fe);
    }
  });

  it('a line with ECS cut after its destination is a valid line; cut inside the ECS it is truncated', () => {
    const line =
      'client @0x7f 198.51.100.7#11111 (cdn.example.com): query: cdn.example.com IN A +E(0)K (192.0.2.53) [ECS 203.0.113.0/24/0]';
    const cut = line.indexOf(' [ECS');
    expect(reasonOf(line.slice(0, cut))).toBe('query');
    for (let n = cut + 1; n < line.length; n++) expect(reasonOf(line.slice(0, n))).toBe('truncated');
  });

  it('lists every reason it can return', () => {
    expect(REJECT_REASONS).toEqual([
      'empty',
      'too_long',
      'binary',
      'bad_time',
      'not_query',
      'truncated',
      'bad_client',
      'bad_flags',
      'malformed',
    ]);
  });

  it('rejects are shared objects: no allocation per rejected line', () => {
    expect(parse('hello world')).toBe(parse('another line of text'));
    expect(Object.isFrozen(parse('hello world'))).toBe(true);
  });

  it('hostile input stays linear: long runs of separators and hashes', () => {
    const hostile = [
      `client ${'#'.repeat(MAX_LINE_LENGTH - 20)}`,
      `client 1.2.3.4#5 (${'('.repeat(MAX_LINE_LENGTH - 40)}`,
      `${': '.repeat(MAX_LINE_LENGTH / 2 - 1)}`,
      `<30>1 2026-11-25T08:38:30Z a b c d [${'"\\'.repeat(MAX_LINE_LENGTH / 2 - 30)}`,
      `client @0x7f 1.2.3.4#5 (a): query: a IN A +${'E(0)'.repeat(MAX_LINE_LENGTH / 4 - 20)}`,
    ];
    const t0 = performance.now();
    for (let k = 0; k < 50; k++) for (const h of hostile) parse(h);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
