// Benchmark: dnslog's query-log parser against a straightforward regex parser of the same lines.
//
//   npm run build -w dnslog && node apps/dnslog/bench/parse-bench.mjs [lines=1000000] [runs=5]
//
// Generates realistic lines in memory (mixed BIND versions, print-time formats, syslog, views, ECS,
// IPv6, a few non-query lines; time moving forward a few ms per line as in a real log), joins them
// into one text and splits it again (so each line is a slice of a big string, as when reading a
// file), then times both parsers on the same lines. Prints lines/s (wall clock and CPU time of this
// process, which is steadier on a busy machine) and the ratio.
import { createParseContext, parseQueryLine } from '../dist/parse/parse-querylog.js';
import { mulberry32 } from './prng.mjs';

const N = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 5);

const rand = mulberry32(0x9e3779b9);
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const pad = (n, w = 2) => String(n).padStart(w, '0');

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const NAMES = Array.from({ length: 5000 }, (_, i) =>
  pick([
    `host${i}.example.com`,
    `www.site${i}.example.net`,
    `_dmarc.d${i}.example.org`,
    `${i}.2.0.192.in-addr.arpa`,
    `cdn-${i}.static.example.com`,
  ]),
);
const TYPES = ['A', 'A', 'A', 'AAAA', 'AAAA', 'MX', 'TXT', 'PTR', 'HTTPS', 'NS', 'SOA', 'SRV', 'TYPE65', 'ANY'];
const FLAGS = ['+', '+E(0)K', '+E(0)K', '+E(0)DK', '-E(0)DC', '+E(0)TK', '+E(0)V', '-E(0)TDCV', '-', '+E(0)'];
const V4 = () => `${pick([10, 172, 192, 198])}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;
const V6 = () => `2001:db8:${Math.floor(rand() * 65536).toString(16)}::${Math.floor(rand() * 65536).toString(16)}`;
const PTR = () =>
  `@0x7f${Math.floor(rand() * 0xffffffff)
    .toString(16)
    .padStart(8, '0')}`;

let ms = Date.UTC(2026, 10, 25, 0, 0, 0, 0);
function stamps() {
  ms += Math.floor(rand() * 40);
  const d = new Date(ms);
  const Y = d.getUTCFullYear();
  const M = d.getUTCMonth();
  const D = d.getUTCDate();
  const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const f = pad(d.getUTCMilliseconds(), 3);
  return {
    bind: `${pad(D)}-${MONTHS[M]}-${Y} ${hms}.${f}`,
    iso: `${Y}-${pad(M + 1)}-${pad(D)}T${hms}.${f}`,
    syslog: `${MONTHS[M]} ${String(D).padStart(2, ' ')} ${hms}`,
  };
}

function line() {
  const t = stamps();
  const v6 = rand() < 0.15;
  const client = `${v6 ? V6() : V4()}#${1024 + Math.floor(rand() * 64000)}`;
  const dest = v6 ? '2001:db8::53' : '192.0.2.53';
  const name = pick(NAMES);
  const q = `${name} IN ${pick(TYPES)} ${pick(FLAGS)}`;
  const r = rand();
  if (r < 0.5) return `${t.bind} queries: info: client ${PTR()} ${client} (${name}): query: ${q} (${dest})`;
  if (r < 0.56)
    return `${t.bind} queries: info: client ${PTR()} ${client} (${name}): view ${pick(['internal', 'external'])}: query: ${q} (${dest})`;
  if (r < 0.61) return `${t.bind} queries: info: client ${PTR()} ${client} (${name}): query: ${q} (${dest}) [ECS 203.0.113.0/24/0]`;
  if (r < 0.63) return `${t.bind} queries: info: client ${PTR()} ${client}/key tsig-key (${name}): query: ${name} IN SOA -SE(0)T (${dest})`;
  if (r < 0.73) return `<30>${t.syslog} ns1 named[1234]: client ${PTR()} ${client} (${name}): query: ${q} (${dest})`;
  if (r < 0.78) return `${t.iso}+01:00 ns1 named[1234]: queries: info: client ${PTR()} ${client} (${name}): query: ${q} (${dest})`;
  if (r < 0.83) return `${t.iso} queries: info: client ${PTR()} ${client} (${name}): query: ${q} (${dest})`;
  if (r < 0.88) return `${t.bind} client ${client} (${name}): query: ${name} IN A +ED (${dest})`;
  if (r < 0.93) return `${t.bind} client ${client}: query: ${name} IN A +E`;
  if (r < 0.98) return `${t.bind} queries: info: client ${PTR()} ${client} (${name}): query: ${q} (${dest})`;
  if (r < 0.99) return `${t.bind} lame-servers: info: error (network unreachable) resolving '${name}/A/IN': 2001:db8::53#53`;
  return `${t.bind} security: info: client ${PTR()} ${client} (${name}): query (cache) '${name}/A/IN' denied`;
}

// ---- The comparison: what a straightforward regex-based shipper does -------------------------------
const MONTH_NUM = Object.fromEntries(MONTHS.map((m, i) => [m, pad(i + 1)]));
const RE_TIME =
  /^(?:<\d+>)?(?:(\d{2})-(\w{3})-(\d{4}) (\d{2}:\d{2}:\d{2})(?:\.(\d{3}))?|(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{3})\d*)?(Z|[+-]\d{2}:?\d{2})?|(\w{3}) +(\d{1,2}) (\d{2}:\d{2}:\d{2}))/;
const RE_QUERY =
  /client (?:@0x[0-9a-f]+ )?([0-9A-Fa-f.:%\w]+)#(\d+)(?:\/key (\S+))?(?: \((\S+)\))?: (?:view (.+?): )?query: (\S+) ([A-Z0-9-]+) ([A-Z0-9-]+) ([-+][A-Z0-9()]*)(?: \(([^)#]+)(?:#(\d+))?\))?(?: \[ECS ([^\]]+)\])?$/;
const RE_EDNS = /E(?:\((\d+)\))?/;

function regexParse(text, year) {
  const m = RE_QUERY.exec(text);
  if (m === null) return null;
  const t = RE_TIME.exec(text);
  let time = null;
  if (t !== null) {
    if (t[1] !== undefined) time = `${t[3]}-${MONTH_NUM[t[2]]}-${t[1]} ${t[4]}.${t[5] ?? '000'}`;
    else if (t[6] !== undefined) time = `${t[6]} ${t[7]}.${t[8] ?? '000'}`;
    else time = `${year}-${MONTH_NUM[t[10]]}-${pad(Number(t[11]))} ${t[12]}.000`;
  }
  const flags = m[9];
  const e = RE_EDNS.exec(flags);
  return {
    time,
    clientIp: m[1],
    clientPort: Number(m[2]),
    view: m[5] ?? null,
    qname: m[6],
    qclass: m[7],
    qtype: m[8],
    flags,
    rd: flags[0] === '+',
    edns: e === null ? null : e[1] === undefined ? -1 : Number(e[1]),
    tcp: flags.includes('T'),
    do: flags.includes('D'),
    cd: flags.includes('C'),
    signed: flags.includes('S'),
    cookie: flags.includes('V') ? 'valid' : flags.includes('K') ? 'present' : null,
    destIp: m[10] ?? null,
    destPort: m[11] === undefined ? null : Number(m[11]),
    ecs: m[12] ?? null,
    signer: m[3] ?? null,
  };
}

// ---- Run ----------------------------------------------------------------------------------------------
const gen = new Array(N);
for (let i = 0; i < N; i++) gen[i] = line();
const text = gen.join('\n');
const lines = text.split('\n');
gen.length = 0;
const reference = new Date(2026, 10, 26);
console.log(`${N.toLocaleString('en-US')} lines, ${(text.length / 1e6).toFixed(1)} MB, ${RUNS} runs each (best shown)`);

function time(label, fn) {
  let best = null;
  for (let r = 0; r < RUNS; r++) {
    const w0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const rows = fn();
    const cpu = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - w0) / 1e6;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (best === null || wall < best.wall) best = { wall, cpuMs, rows };
  }
  const perWall = Math.round((N / best.wall) * 1000);
  const perCpu = Math.round((N / best.cpuMs) * 1000);
  console.log(
    `${label.padEnd(22)} ${best.rows.toLocaleString('en-US').padStart(10)} rows  ${best.wall.toFixed(0).padStart(6)} ms  ${perWall.toLocaleString('en-US').padStart(10)} lines/s  (CPU ${perCpu.toLocaleString('en-US')} lines/s)`,
  );
  return perWall;
}

const ours = time('dnslog parseQueryLine', () => {
  const ctx = createParseContext(reference);
  let rows = 0;
  for (let i = 0; i < N; i++) if (parseQueryLine(lines[i], ctx).kind === 'query') rows++;
  return rows;
});
const theirs = time('regex parser', () => {
  let rows = 0;
  for (let i = 0; i < N; i++) if (regexParse(lines[i], 2026) !== null) rows++;
  return rows;
});
console.log(`ratio: ${(ours / theirs).toFixed(1)}x`);

// Both must read the same rows, or the comparison means nothing.
const ctx = createParseContext(reference);
let differ = 0;
let first = null;
for (let i = 0; i < Math.min(N, 100_000); i++) {
  const a = parseQueryLine(lines[i], ctx);
  const b = regexParse(lines[i], 2026);
  const sameKind = (a.kind === 'query') === (b !== null);
  const same = sameKind && (b === null || Object.keys(b).every((k) => a[k] === b[k]));
  if (!same) {
    differ++;
    first ??= lines[i];
  }
}
console.log(
  differ === 0 ? 'check: both parsers agree on every field of the first 100,000 lines' : `check: ${differ} lines differ, e.g. ${first}`,
);
if (differ !== 0) process.exitCode = 1;
