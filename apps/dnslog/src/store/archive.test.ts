import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveName, readArchiveCount, writeArchive, ARCHIVE_FORMAT, type ArchiveHeader } from './archive.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'dnslog-archive-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const header = (rows: number): ArchiveHeader => ({
  format: ARCHIVE_FORMAT,
  version: 1,
  table: 'dns_queries',
  source: 'p1',
  until: 'x',
  columns: ['a', 'b'],
  rows,
  createdAt: 'now',
});

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
    await expect(writeArchive(path, header(5), rows(4))).rejects.toThrow(
      'archive check failed (expected 5 rows, read 4 from the database, 4 back from the file); nothing was dropped',
    );
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never replaces an archive: a name taken gets .1, .2 (regression: every prune of p_start replaced the last archive)', async () => {
    const path = join(dir, 'dns_queries.p_start.x.jsonl.gz');
    writeFileSync(path, 'an older archive');
    expect(await writeArchive(path, header(3), rows(3))).toBe(join(dir, 'dns_queries.p_start.x.1.jsonl.gz'));
    expect(await writeArchive(path, header(4), rows(4))).toBe(join(dir, 'dns_queries.p_start.x.2.jsonl.gz'));
    expect(readdirSync(dir).sort()).toEqual([
      'dns_queries.p_start.x.1.jsonl.gz',
      'dns_queries.p_start.x.2.jsonl.gz',
      'dns_queries.p_start.x.jsonl.gz',
    ]);
    expect(await readArchiveCount(join(dir, 'dns_queries.p_start.x.2.jsonl.gz'))).toMatchObject({ rows: 4 });
    expect(statSync(join(dir, 'dns_queries.p_start.x.1.jsonl.gz')).mode & 0o777).toBe(0o600);
  });

  it('names an archive by what it holds, its span and when it was made', () => {
    expect(archiveName('p_start', '2026-11-20 00:00:01.500', "'2026-11-24 00:00:00'", new Date('2026-12-05T05:15:00.123Z'))).toBe(
      'dns_queries.p_start.20261120T000001-20261124T000000.20261205T051500123Z.jsonl.gz',
    );
    expect(archiveName('rows', null, '2026-11-24 00:00:00.000', new Date('2026-12-05T05:15:00.123Z'))).toBe(
      'dns_queries.rows.empty-20261124T000000.20261205T051500123Z.jsonl.gz',
    );
  });

  it('a write that fails (the directory is gone) is one E_ARCHIVE line and leaves nothing', async () => {
    const path = join(dir, 'missing', 'a.jsonl.gz');
    await expect(writeArchive(path, header(3), rows(3))).rejects.toThrow(
      /^cannot write archive .*\/missing\/a\.jsonl\.gz: ENOENT: no such file or directory, open '.*'; nothing was dropped$/,
    );
  });
});
