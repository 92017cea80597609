import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readArchiveCount, writeArchive, ARCHIVE_FORMAT, type ArchiveHeader } from './archive.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'dnslog-archive-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const header = (rows: number): ArchiveHeader => ({ format: ARCHIVE_FORMAT, version: 1, table: 'dns_queries', source: 'p1', until: 'x', columns: ['a', 'b'], rows, createdAt: 'now' });

async function* rows(n: number): AsyncGenerator<unknown[]> {
  for (let i = 0; i < n; i++) yield [i, `name\n${i}\t"`];
}

describe('archive', () => {
  it('writes a header and the rows, and reads the count back', async () => {
    const path = join(dir, 'a.jsonl.gz');
    await writeArchive(path, header(1000), rows(1000));
    expect(await readArchiveCount(path)).toMatchObject({ rows: 1000, header: { rows: 1000, source: 'p1' } });
  });

  it('leaves no file when the rows read differ from the count expected', async () => {
    const path = join(dir, 'b.jsonl.gz');
    await expect(writeArchive(path, header(5), rows(4))).rejects.toThrow('archive check failed (expected 5 rows, read 4 from the database, 4 back from the file); nothing was dropped');
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.part`)).toBe(false);
  });
});
