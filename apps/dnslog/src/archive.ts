/**
 * Archives of pruned rows: gzip-compressed JSON lines, a header line first (what the file holds and
 * how many rows), then one JSON array per row in `columns` order. A file is written under a
 * temporary name, read back and counted, and only then given its final name.
 */
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { UserError } from '@toolbox/shared';

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

async function* jsonLines(header: ArchiveHeader, rows: AsyncIterable<readonly unknown[]>, counter: { n: number }): AsyncGenerator<string> {
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
 * Writes `rows` (expected: header.rows of them) to `path`, verifies the file, renames it into place.
 * Throws E_ARCHIVE (and leaves no file) when the count read back differs.
 */
export async function writeArchive(path: string, header: ArchiveHeader, rows: AsyncIterable<readonly unknown[]>): Promise<void> {
  const tmp = `${path}.part`;
  const counter = { n: 0 };
  try {
    await pipeline(Readable.from(jsonLines(header, rows, counter)), createGzip(), createWriteStream(tmp, { flags: 'w' }));
    const back = await readArchiveCount(tmp);
    if (counter.n !== header.rows || back.rows !== header.rows || back.header.rows !== header.rows) {
      throw new UserError(
        'E_ARCHIVE',
        `${path}: archive check failed (expected ${header.rows} rows, read ${counter.n} from the database, ${back.rows} back from the file); nothing was dropped`,
      );
    }
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}
