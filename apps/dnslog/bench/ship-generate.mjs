// The query log ship-bench.mjs ships: realistic BIND 9.18 `queries` lines, deterministic (the same
// file on every run). Also usable alone, e.g. to profile a ship run on the same data:
//
//   node apps/dnslog/bench/ship-generate.mjs 1000000 /tmp/x/query.log.20261125093000
//
// Time moves forward 0-9 ms per line (about 220 queries/s, several in one millisecond now and
// then); clients are a pool of IPv4 (82%) and IPv6 addresses, random ports; a few thousand distinct
// names from 2 to ~75 characters (www, mail, CDN hashes, in-addr/ip6.arpa PTRs, _dmarc, SRV-style,
// single labels), popular ones asked far more often; A/AAAA/HTTPS/… types and the flag mixes BIND
// prints. About 3% of lines carry `view internal:`/`view external:`, 2% `[ECS …]`, 0.5% a TSIG
// `/key tsig-key` (SOA/IXFR/AXFR, `-SE(0)`), 0.2% CHAOS `version.bind`-style queries.
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './prng.mjs';

/** The name a rotated log gets: dnslog never ships a file without a rotation suffix. */
export const LOG_NAME = 'query.log.20261125093000';

// Deterministic: every run ships the same file.
let rand = mulberry32(0x5eed1e55);
const int = (n) => Math.floor(rand() * n);
const pick = (arr) => arr[int(arr.length)];
/** Picks from [value, weight] pairs. */
function weighted(pairs) {
  const total = pairs.reduce((s, [, w]) => s + w, 0);
  const table = [];
  for (const [v, w] of pairs) for (let i = 0; i < Math.round((w / total) * 1000); i++) table.push(v);
  return () => table[int(table.length)];
}
const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'net',
  'sta',
  'ro',
  'ex',
  'am',
  'ple',
  'dat',
  'ser',
  'vi',
  'cloud',
  'go',
  'tr',
  'in',
  'fo',
  'ba',
  'zu',
  'q',
];
const word = () => Array.from({ length: 1 + int(4) }, () => pick(SYLLABLES)).join('');
const TLDS = ['com', 'net', 'org', 'de', 'io', 'co.uk', 'example', 'test', 'fr', 'nl'];

// A few thousand distinct names from 2 to ~75 characters; popular ones are asked far more often.
const NAME_SHAPES = [
  () => `www.${word()}.${pick(TLDS)}`,
  () => `${word()}.${pick(TLDS)}`,
  () => `mail.${word()}.${pick(TLDS)}`,
  () => `api-${int(90)}.${word()}.cloud.example.net`,
  () => `${hex(16 + int(16))}.cdn.${word()}.net`,
  () => `${1 + int(254)}.${int(256)}.${int(256)}.${pick([10, 192, 172, 198])}.in-addr.arpa`,
  () => `${hex(24).split('').join('.')}.8.b.d.0.1.0.0.2.ip6.arpa`,
  () => `_dmarc.${word()}.${pick(TLDS)}`,
  () => `_443._tcp.${word()}.${pick(TLDS)}`,
  () => `e${int(9999)}.a.akamaiedge.net`,
  () => `${word()}-${word()}-${int(999)}.s3.eu-west-1.amazonaws.com`,
  () => word(),
];
const NAMES = [...new Set(Array.from({ length: 4000 }, () => pick(NAME_SHAPES)()))];
const popularName = () => NAMES[Math.floor(NAMES.length * rand() ** 3)];
const TYPES = weighted([
  ['A', 40],
  ['AAAA', 25],
  ['HTTPS', 9],
  ['TXT', 4],
  ['MX', 3],
  ['SRV', 2],
  ['NS', 2],
  ['SOA', 2],
  ['CNAME', 1],
  ['DS', 1],
  ['DNSKEY', 1],
  ['TYPE65', 1],
  ['SVCB', 1],
  ['CAA', 0.5],
  ['ANY', 0.5],
]);
const FLAGS = weighted([
  ['+E(0)K', 35],
  ['+E(0)', 12],
  ['+E(0)DK', 10],
  ['+', 8],
  ['-E(0)K', 5],
  ['+E(0)TK', 4],
  ['+E(0)V', 4],
  ['-E(0)DCK', 3],
  ['+E(0)DCK', 3],
  ['+E(0)TDK', 2],
  ['+E(0)DV', 2],
  ['-', 2],
  ['+T', 1],
  ['+E(0)TV', 1],
]);
const V4_CLIENTS = [
  '127.0.0.1',
  ...Array.from({ length: 600 }, () =>
    pick([
      `10.${int(256)}.${int(256)}.${1 + int(254)}`,
      `192.168.${int(256)}.${1 + int(254)}`,
      `172.${16 + int(16)}.${int(256)}.${1 + int(254)}`,
    ]),
  ),
];
const V6_CLIENTS = ['::1', ...Array.from({ length: 200 }, () => `2001:db8:${hex(1 + int(4))}:${hex(1 + int(4))}::${hex(1 + int(4))}`)];
const POINTERS = Array.from({ length: 64 }, () => `@0x7f${hex(10)}`);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Where the line stream starts, so that every call writes the same lines. */
const SEED_AFTER_POOLS = rand.state();
const p2 = (n) => (n < 10 ? `0${n}` : `${n}`);

/**
 * Writes the first `lines` lines of one endless log to each `path`: a bigger file starts with the
 * smaller ones, so the runs at different sizes see the same lines.
 */
export function writeLogs(targets) {
  const sorted = [...targets].sort((a, b) => a.lines - b.lines);
  const max = sorted[sorted.length - 1].lines;
  const open = sorted.map((t) => ({ ...t, fd: openSync(t.path, 'w') }));
  rand = mulberry32(SEED_AFTER_POOLS);
  let ms = Date.UTC(2026, 10, 25, 3, 0, 0, 0);
  let second = -1;
  let stamp = '';
  let chunk = '';
  let next = 0; // index into open of the smallest file still being written
  const flush = () => {
    const buf = Buffer.from(chunk, 'latin1');
    for (let k = next; k < open.length; k++) writeSync(open[k].fd, buf);
    chunk = '';
  };
  for (let i = 1; i <= max; i++) {
    ms += int(10); // ~220 queries/s, monotonic, several per millisecond now and then
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      second = s;
      const d = new Date(ms);
      stamp = `${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.`;
    }
    const frac = ms % 1000;
    const time = stamp + (frac < 10 ? `00${frac}` : frac < 100 ? `0${frac}` : `${frac}`);
    const isV6 = rand() < 0.18;
    const ip = isV6 ? pick(V6_CLIENTS) : pick(V4_CLIENTS);
    const dest = ip === '127.0.0.1' ? '127.0.0.1' : ip === '::1' ? '::1' : isV6 ? '2001:db8::53' : '192.0.2.53';
    const port = rand() < 0.002 ? 53 : 1024 + int(64511);
    let name = popularName();
    let cls = 'IN';
    let type = name.endsWith('.arpa') ? 'PTR' : TYPES();
    let flags = FLAGS();
    let key = '';
    let view = '';
    let ecs = '';
    const r = rand();
    if (r < 0.03) view = `view ${rand() < 0.7 ? 'internal' : 'external'}: `;
    else if (r < 0.05) ecs = rand() < 0.8 ? ` [ECS 192.0.2.0/24/0]` : ` [ECS 2001:db8:${hex(4)}::/56/0]`;
    else if (r < 0.055) {
      key = '/key tsig-key';
      type = pick(['SOA', 'SOA', 'IXFR', 'AXFR']);
      flags = '-SE(0)';
    } else if (r < 0.057) {
      name = pick(['version.bind', 'hostname.bind', 'id.server']);
      cls = 'CH';
      type = 'TXT';
      flags = '-E(0)';
    }
    chunk += `${time} queries: info: client ${pick(POINTERS)} ${ip}#${port}${key} (${name}): ${view}query: ${name} ${cls} ${type} ${flags} (${dest})${ecs}\n`;
    if (i === open[next].lines) {
      flush();
      while (next < open.length && open[next].lines === i) closeSync(open[next++].fd);
    } else if (chunk.length >= 1 << 20) flush();
  }
}

export const NAME_COUNT = NAMES.length;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2]);
  const path = process.argv[3];
  if (!Number.isInteger(n) || n < 1 || !path) {
    process.stderr.write('usage: node ship-generate.mjs LINES PATH\n');
    process.exitCode = 2;
  } else {
    writeLogs([{ lines: n, path }]);
  }
}
