/**
 * `dnslog parse [FILE...]`: streams query logs (plain or .gz, or stdin) line by line through the
 * parser and prints one row per query, as NDJSON or a tab-separated table; a summary goes to stderr.
 * Memory stays flat whatever the input size: lines are read in bounded pieces and rows written in
 * batches that wait for the output to drain.
 */
import { once } from 'node:events';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { errorMessage, ExitCode, UserError, type CliIo } from '@toolbox/shared';
import { readLines } from '../parse/line-reader.js';
import {
  createParseContext,
  MAX_LINE_LENGTH,
  parseQueryLine,
  REJECT_REASONS,
  type QueryRecord,
  type RejectReason,
} from '../parse/parse-querylog.js';

export interface ParseCommandOptions {
  /** One JSON object per query line (NDJSON) instead of a table. */
  json: boolean;
  /** Read when no path is given, and for the path `-`. */
  stdin: Readable;
  /** Reference date for stdin's syslog lines, which carry no year (files use their mtime). */
  now?: () => Date;
  /** How many rejected lines to show on stderr (default 10). */
  maxSamples?: number;
}

export interface ParseSummary {
  lines: number;
  rows: number;
  skipped: number;
  /** Only the reasons that occurred, in REJECT_REASONS order. */
  skippedByReason: Partial<Record<RejectReason, number>>;
}

/** NDJSON keys, in this order. */
export const JSON_KEYS = [
  'line',
  'time',
  'client_ip',
  'client_port',
  'view',
  'qname',
  'qclass',
  'qtype',
  'flags',
  'rd',
  'edns',
  'tcp',
  'do',
  'cd',
  'signed',
  'cookie',
  'dest_ip',
  'dest_port',
  'ecs',
  'signer',
] as const;

/** The flags decoded into their own keys: the table shows the raw flags field instead. */
const DECODED_FLAG_KEYS: readonly string[] = ['rd', 'edns', 'tcp', 'do', 'cd', 'signed', 'cookie'];

/** Table columns: the NDJSON keys without the decoded flags (tableRow writes them in this order). */
const TABLE_COLUMNS = JSON_KEYS.filter((k) => !DECODED_FLAG_KEYS.includes(k));

/** `YYYY-MM-DD HH:MM:SS.mmm` → ISO `YYYY-MM-DDTHH:MM:SS.mmm` (still local, no zone). */
function isoLocal(time: string | null): string | null {
  return time === null ? null : `${time.slice(0, 10)}T${time.slice(11)}`;
}

/** One NDJSON line, keys in JSON_KEYS order. */
export function jsonRow(line: number, r: QueryRecord): string {
  return `${JSON.stringify({
    line,
    time: isoLocal(r.time),
    client_ip: r.clientIp,
    client_port: r.clientPort,
    view: r.view,
    qname: r.qname,
    qclass: r.qclass,
    qtype: r.qtype,
    flags: r.flags,
    rd: r.rd,
    edns: r.edns,
    tcp: r.tcp,
    do: r.do,
    cd: r.cd,
    signed: r.signed,
    cookie: r.cookie,
    dest_ip: r.destIp,
    dest_port: r.destPort,
    ecs: r.ecs,
    signer: r.signer,
  })}\n`;
}

/** One table line; `-` for empty fields. Names never hold a tab or newline (BIND escapes them). */
export function tableRow(line: number, r: QueryRecord): string {
  const f = (v: string | number | null) => (v === null ? '-' : String(v));
  return `${line}\t${f(isoLocal(r.time))}\t${r.clientIp}\t${r.clientPort}\t${f(r.view)}\t${r.qname}\t${r.qclass}\t${r.qtype}\t${r.flags}\t${f(r.destIp)}\t${f(r.destPort)}\t${f(r.ecs)}\t${f(r.signer)}\n`;
}

/** `12 lines, 9 rows, 3 skipped (not_query 2, truncated 1)`. */
export function formatSummary(s: ParseSummary): string {
  const parts = REJECT_REASONS.filter((r) => (s.skippedByReason[r] ?? 0) > 0).map((r) => `${r} ${s.skippedByReason[r]}`);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(s.lines, 'line')}, ${plural(s.rows, 'row')}, ${s.skipped} skipped${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function displayName(path: string): string {
  return path === '-' ? 'stdin' : path;
}

function readError(path: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR'
            ? `not valid gzip data (${errorMessage(err)})`
            : errorMessage(err);
  return new UserError('E_READ', `cannot read ${path}: ${why}; give a readable query log file (.gz is decompressed)`, { cause: err });
}

/** Checks a file before any output, so that a typo fails fast and cleanly; returns its mtime. */
async function checkReadable(path: string): Promise<Date> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    await access(path, constants.R_OK);
    return st.mtime;
  } catch (err) {
    throw readError(path, err);
  }
}

/** Batches output and waits for the stream to drain, so a slow reader does not make memory grow. */
class BatchWriter {
  private buf = '';
  private failed: Error | null = null;

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  private readonly onError = (err: Error) => {
    this.failed = err;
  };

  /** True once the reader went away (`| head`): stop producing. */
  get closed(): boolean {
    return this.failed !== null;
  }

  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buf === '' || this.failed) return;
    const chunk = this.buf;
    this.buf = '';
    // The error of a closed pipe may come synchronously from write(): then there is no drain to wait for.
    if (!this.out.write(chunk) && !this.failed) {
      await Promise.race([once(this.out, 'drain'), once(this.out, 'close'), once(this.out, 'error')]).catch(() => undefined);
    }
  }

  end(): void {
    this.out.off('error', this.onError);
    if (this.failed && (this.failed as NodeJS.ErrnoException).code !== 'EPIPE') throw this.failed;
  }
}

function openInput(path: string, stdin: Readable): Readable {
  const raw = path === '-' ? stdin : createReadStream(path);
  if (!path.endsWith('.gz')) return raw;
  const gunzip = createGunzip();
  raw.on('error', (err: Error) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/**
 * Parses each input in turn and prints its rows; returns the totals. Sets exit code 1 when any line
 * was skipped. An unreadable input is a UserError (exit 2) naming it.
 */
export async function runParse(paths: readonly string[], options: ParseCommandOptions, io: CliIo): Promise<ParseSummary> {
  const inputs = paths.length > 0 ? paths : ['-'];
  const now = options.now ?? (() => new Date());
  // The reference for syslog years: a file's mtime (its lines are not later), stdin's "now".
  const references = new Map<string, Date>();
  for (const path of inputs) if (path !== '-') references.set(path, await checkReadable(path));

  const maxSamples = options.maxSamples ?? 10;
  const summary: ParseSummary = { lines: 0, rows: 0, skipped: 0, skippedByReason: {} };
  const byReason = new Map<RejectReason, number>();
  const out = new BatchWriter(io.stdout);
  let samples = 0;

  if (!options.json) await out.write(`${TABLE_COLUMNS.join('\t')}\n`);
  for (const path of inputs) {
    const ctx = createParseContext(references.get(path) ?? now());
    try {
      // At most MAX_LINE_LENGTH + 1 bytes of a line are held: anything longer is rejected unparsed anyway.
      for await (const raw of readLines(openInput(path, options.stdin), MAX_LINE_LENGTH + 1)) {
        if (out.closed) break;
        summary.lines++;
        // As ship does: a last line without its newline may have been cut, so it is never a row.
        const r = raw.tooLong || raw.unterminated ? null : parseQueryLine(raw.text, ctx);
        if (r !== null && r.kind === 'query') {
          summary.rows++;
          await out.write(options.json ? jsonRow(raw.lineNo, r) : tableRow(raw.lineNo, r));
          continue;
        }
        const reason: RejectReason = r !== null ? r.reason : raw.tooLong ? 'too_long' : 'truncated';
        summary.skipped++;
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
        if (samples < maxSamples) {
          samples++;
          const text = raw.text.length > 120 ? `${raw.text.slice(0, 120)}…` : raw.text;
          io.stderr.write(`skipped ${displayName(path)}:${raw.lineNo} (${reason}): ${JSON.stringify(text)}\n`);
        }
      }
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw readError(displayName(path), err);
    }
    if (out.closed) break;
  }
  await out.flush();
  out.end();

  for (const reason of REJECT_REASONS) {
    const n = byReason.get(reason);
    if (n !== undefined) summary.skippedByReason[reason] = n;
  }
  if (summary.skipped > samples) io.stderr.write(`(${summary.skipped - samples} more skipped lines not shown)\n`);
  io.stderr.write(`dnslog parse: ${formatSummary(summary)}\n`);
  if (summary.skipped > 0) io.setExitCode(ExitCode.Findings);
  return summary;
}
