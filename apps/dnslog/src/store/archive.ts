/**
 * Archives of pruned rows: gzip-compressed JSON lines, a header line first (what the file holds and
 * how many rows), then one JSON array per row in `columns` order. See writeArchive for how a file
 * is made durable before the rows it holds are dropped.
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { link, open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { UserError, errorMessage, fsyncDirectory } from '@toolbox/shared';

export const ARCHIVE_FORMAT = 'dnslog-archive';

export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  version: 1;
  table: string;
  /** The partition, or `rows before <cutoff>` for SQLite. */
  source: string;
  /** Rows older than this (exclusive upper bound), as logged. */
  until: string;
  columns: readonly string[];
  rows: number;
  createdAt: string;
}

async function* jsonLines(
  header: ArchiveHeader,
  rows: AsyncIterable<readonly unknown[]> | Iterable<readonly unknown[]>,
  counter: { n: number },
): AsyncGenerator<string> {
  yield `${JSON.stringify(header)}\n`;
  let buf = '';
  for await (const r of rows) {
    counter.n++;
    buf += `${JSON.stringify(r)}\n`;
    if (buf.length >= 64 * 1024) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

/** Reads an archive back: its header and the number of row lines. */
export async function readArchiveCount(path: string): Promise<{ header: ArchiveHeader; rows: number }> {
  const lines = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
  let header: ArchiveHeader | null = null;
  let rows = 0;
  for await (const line of lines) {
    if (header === null) header = JSON.parse(line) as ArchiveHeader;
    else if (line !== '') rows++;
  }
  if (header?.format !== ARCHIVE_FORMAT) throw new UserError('E_ARCHIVE', `${path}: not a dnslog archive`);
  return { header, rows };
}

/**
 * An archive's file name: what it holds (the partition or `rows`), the span of its rows, and when it
 * was made, so that no two archives share a name (p_start is truncated and refills whenever old
 * data arrives; two prunes may run in one second).
 * `dns_queries.p_start.20261120T000000-20261124T000000.20261205T051500123Z.jsonl.gz`
 */
export function archiveName(source: string, oldest: string | null, until: string, createdAt: Date): string {
  const compact = (t: string | null): string =>
    t === null
      ? 'empty'
      : t
          .replace(/[^0-9]/g, '')
          .slice(0, 14)
          .replace(/^(\d{8})/, '$1T');
  const made = createdAt.toISOString().replace(/[-:.]/g, '');
  return `dns_queries.${source.replace(/[^A-Za-z0-9_]/g, '_')}.${compact(oldest)}-${compact(until)}.${made}.jsonl.gz`;
}

/**
 * Writes `rows` (expected: header.rows of them) as an archive named `path`, and returns the name it
 * got (`path`, or `path` with `.1`, `.2`… before `.jsonl.gz` when that name is taken: an archive is
 * never replaced). Durable before it counts: the rows go to a temporary file opened exclusively
 * (O_EXCL, O_NOFOLLOW), which is fsynced, read back and counted, then linked to its name (a link
 * fails rather than replace a file) and the directory fsynced. Only then may the rows be dropped.
 * Throws E_ARCHIVE (and leaves no file) when the count read back differs or the write fails.
 */
export async function writeArchive(
  path: string,
  header: ArchiveHeader,
  rows: AsyncIterable<readonly unknown[]> | Iterable<readonly unknown[]>,
): Promise<string> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const counter = { n: 0 };
  try {
    // Archives hold client addresses: readable by the owner only.
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      // Written through this descriptor, then fsynced through it (a stream would close it first).
      const gzip = createGzip();
      const write = async (): Promise<void> => {
        for await (const chunk of gzip) await fh.write(chunk as Buffer);
      };
      await Promise.all([pipeline(Readable.from(jsonLines(header, rows, counter)), gzip), write()]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const back = await readArchiveCount(tmp);
    if (counter.n !== header.rows || back.rows !== header.rows || back.header.rows !== header.rows) {
      throw new UserError(
        'E_ARCHIVE',
        `${path}: archive check failed (expected ${header.rows} rows, read ${counter.n} from the database, ${back.rows} back from the file); nothing was dropped`,
      );
    }
    const final = await linkUnique(tmp, path);
    await rm(tmp, { force: true });
    await fsyncDirectory(dir);
    return final;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError('E_ARCHIVE', `cannot write archive ${path}: ${errorMessage(err)}; nothing was dropped`, { cause: err });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Links `from` to `to`, or to the first free `to` with `.N` before `.jsonl.gz`; never replaces a file. */
async function linkUnique(from: string, to: string): Promise<string> {
  for (let i = 0; ; i++) {
    const name = i === 0 ? to : to.replace(/(\.jsonl\.gz)?$/, `.${i}$1`);
    try {
      await link(from, name);
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 999) throw err;
    }
  }
}
