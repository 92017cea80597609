/**
 * One stored query: the columns both stores share, and their encoding for MySQL's LOAD DATA.
 */

export interface QueryRow {
  /** Wall-clock time as the server logged it: `YYYY-MM-DD HH:MM:SS.mmm` (no zone). */
  time: string;
  clientIp: string;
  clientPort: number | null;
  /** null for the default view (BIND does not print `_default` or `_bind`). */
  view: string | null;
  /** The name exactly as BIND wrote it, escapes (`\DDD`, `\.`) kept. */
  qname: string;
  qclass: string;
  qtype: string;
  /** The flags field as written, e.g. `+E(0)K`. */
  flags: string;
  /** Recursion desired (`+`). */
  rd: boolean;
  /** EDNS version, -1 for a versionless `E`, null without EDNS. */
  edns: number | null;
  tcp: boolean;
  /** DNSSEC OK. */
  do: boolean;
  /** Checking disabled. */
  cd: boolean;
  /** TSIG/SIG(0) signed (`S`). */
  signed: boolean;
  /** `V` → valid (server cookie checked), `K` → present. */
  cookie: 'valid' | 'present' | null;
  /** The address the query arrived on (9.10+), null before. */
  destIp: string | null;
  /** Only when written as `(addr#port)`. */
  destPort: number | null;
  /** EDNS Client Subnet as written, `addr/source/scope`. */
  ecs: string | null;
  /** The TSIG key name after `/key`. */
  signer: string | null;
}

/** Column order of `dns_queries` as the loaders send it. */
export const QUERY_COLUMNS = [
  'qtime',
  'server',
  'client_ip',
  'client_port',
  'view',
  'qname',
  'qname_rev',
  'qclass',
  'qtype',
  'flags',
  'rd',
  'edns',
  'tcp',
  'do_bit',
  'cd',
  'is_signed',
  'cookie',
  'dest_ip',
  'dest_port',
  'ecs',
  'signer',
  'file_id',
  'line_no',
] as const;

export type SqlValue = string | number | null;

/**
 * The widest value each text field may have: its column's width in MariaDB (schema.ts). SQLite
 * keeps any length, and LOAD DATA LOCAL would cut a longer value with only a warning, so a row with
 * a longer field is rejected before either store sees it, and the two stores never differ. Lines
 * are printable ASCII (parse-querylog.ts), so characters are bytes.
 */
export const FIELD_LIMITS = {
  clientIp: 64,
  view: 255,
  qname: 1024,
  qclass: 16,
  qtype: 16,
  flags: 32,
  destIp: 64,
  ecs: 64,
  signer: 255,
} as const satisfies Partial<Record<keyof QueryRow, number>>;

/** The first field of `row` longer than its column (FIELD_LIMITS), or null when every field fits. */
export function oversizedField(row: QueryRow): keyof typeof FIELD_LIMITS | null {
  for (const field of Object.keys(FIELD_LIMITS) as (keyof typeof FIELD_LIMITS)[]) {
    const v = row[field];
    if (v !== null && v.length > FIELD_LIMITS[field]) return field;
  }
  return null;
}

/**
 * The name reversed character by character, lower-cased: a suffix search for `example.com` becomes
 * an indexable prefix search for `moc.elpmaxe` (and `moc.elpmaxe.%`).
 */
export function reverseName(qname: string): string {
  const n = qname.length;
  if (n <= REVERSE_BUF.length) {
    // Names come from latin1-decoded lines (one char per byte): reverse them as bytes, one flat string.
    let wide = false;
    for (let i = 0; i < n; i++) {
      const c = qname.charCodeAt(i);
      if (c > 0xff) {
        wide = true;
        break;
      }
      REVERSE_BUF[n - 1 - i] = c;
    }
    if (!wide) return REVERSE_BUF.toString('latin1', 0, n).toLowerCase();
  }
  let out = '';
  for (let i = n - 1; i >= 0; i--) out += qname[i];
  return out.toLowerCase();
}

/** Scratch space for reverseName (names are at most a few hundred bytes; longer ones take the slow path). */
const REVERSE_BUF = Buffer.alloc(4096);

/** The row as values in QUERY_COLUMNS order. */
export function rowValues(row: QueryRow, server: string, fileId: number, lineNo: number): SqlValue[] {
  return [
    row.time,
    server,
    row.clientIp,
    row.clientPort,
    row.view,
    row.qname,
    reverseName(row.qname),
    row.qclass,
    row.qtype,
    row.flags,
    row.rd ? 1 : 0,
    row.edns,
    row.tcp ? 1 : 0,
    row.do ? 1 : 0,
    row.cd ? 1 : 0,
    row.signed ? 1 : 0,
    row.cookie,
    row.destIp,
    row.destPort,
    row.ecs,
    row.signer,
    fileId,
    lineNo,
  ];
}

const NEEDS_ESCAPE = /[\\\t\n\r\0]/;

/**
 * A field for `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`:
 * NULL is `\N`; backslash, tab, newline, carriage return and NUL are backslash-escaped, so a name
 * holding any of them loads back byte for byte.
 */
export function tsvField(v: SqlValue): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  if (!NEEDS_ESCAPE.test(v)) return v;
  let out = '';
  for (const ch of v) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\0':
        out += '\\0';
        break;
      default:
        out += ch;
    }
  }
  return out;
}

export function tsvLine(values: readonly SqlValue[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += '\t';
    out += tsvField(values[i] ?? null);
  }
  return `${out}\n`;
}

/**
 * A value read back from either driver as text: strings as they are, numbers and bigints in
 * decimal, a Buffer as UTF-8, null and undefined as ''. Anything else is not a column value.
 */
export function cellText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return v.toISOString();
  throw new TypeError(`not a column value: ${Object.prototype.toString.call(v)}`);
}
