/**
 * dnslog prune --archive when the archive cannot be written: on a full file system the drop (MariaDB)
 * or delete (SQLite) does not happen, the rows stay, no partial archive is left, and with room
 * again the same prune archives and drops them. Against the real MariaDB and a small tmpfs.
 */
import { runTool, type ToolRun } from './run-tool.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useScratchDatabase } from './scratch-db.js';

const scratch = useScratchDatabase('toolbox_dnslog_archives', 'dnslog-archives-');

const dnslog = (args: string[]): Promise<ToolRun> =>
  runTool('dnslog', args, { timeoutMs: 120_000, env: { DNSLOG_DB_PASSWORD: undefined } });

const LINES = 6000;

/** A rotated 9.18 log from 25 Nov 2026 (long before any --keep here), names that do not compress away. */
function writeLog(path: string): void {
  let seed = 12345;
  const hex = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed.toString(16).padStart(8, '0');
  };
  const lines = Array.from({ length: LINES }, (_, i) => {
    const name = `${hex()}${hex()}${hex()}.example.test`;
    const t = `25-Nov-2026 09:${String(Math.floor(i / 100) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}`;
    return `${t} queries: info: client @0x7f3729afc098 192.0.2.${i % 250}#${1024 + i} (${name}): query: ${name} IN A +E(0)K (192.0.2.53)`;
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(path, old, old);
}

describe('dnslog prune --archive on a full file system', () => {
  let tiny: string;
  beforeAll(() => {
    tiny = join(scratch.work, 'tiny-archive');
    mkdirSync(tiny);
    // 64 KiB: the archive of 6,000 rows is several times that, compressed.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', tiny]);
  });
  afterAll(() => {
    if (tiny) execFileSync('umount', [tiny]);
  });

  for (const store of ['sqlite', 'mariadb'] as const) {
    it(`${store}: stops the drop with one line, keeps every row, leaves no partial archive; with room the re-run archives and drops`, async () => {
      const dir = join(scratch.work, `logs-${store}`);
      mkdirSync(dir);
      writeLog(join(dir, 'query.log.1'));
      const db = store === 'sqlite' ? `sqlite:${join(scratch.work, 'archives.sqlite')}` : scratch.url;
      const lock = join(scratch.work, `${store}.lock`);
      const shipped = await dnslog(['ship', join(dir, 'query.log.1'), '--db', db, '--server', `ns-${store}`, '--keep', '--lock', lock]);
      expect(shipped.code, shipped.stdout + shipped.stderr).toBe(0);
      const rows = async (): Promise<number> => {
        if (store === 'mariadb') return scratch.count('SELECT COUNT(*) FROM dns_queries WHERE server = ?', ['ns-mariadb']);
        const d = new Database(join(scratch.work, 'archives.sqlite'), { readonly: true });
        try {
          return Number(d.prepare('SELECT COUNT(*) FROM dns_queries').pluck().get());
        } finally {
          d.close();
        }
      };
      expect(await rows()).toBe(LINES);

      // The cutoff just after today's midnight: MariaDB drops only partitions wholly older than it, and
      // p_start (where 25 Nov lands) ends by then.
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      const keep = `${Math.max(1, Math.floor((Date.now() - midnight.getTime()) / 1000))}s`;
      const full = await dnslog(['prune', '--db', db, '--keep', keep, '--archive', tiny, '--lock', lock]);
      expect(full.code, full.stdout + full.stderr).toBe(2);
      const errLines = full.stderr.split('\n').filter((l) => l !== '');
      expect(errLines).toHaveLength(1);
      expect(errLines[0]).toMatch(
        /^dnslog: cannot write archive .*\/tiny-archive\/dns_queries\.\S+\.jsonl\.gz: ENOSPC: no space left on device, write; nothing was dropped$/,
      );
      expect(await rows()).toBe(LINES);
      expect(readdirSync(tiny)).toEqual([]);

      const roomy = join(scratch.work, `archive-${store}`);
      const ok = await dnslog(['prune', '--db', db, '--keep', keep, '--archive', roomy, '--lock', lock, '--json']);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      const res = JSON.parse(ok.stdout) as { actions: { rows: number; archive: string | null; done: boolean }[] };
      expect(res.actions.reduce((n, a) => n + a.rows, 0)).toBe(LINES);
      expect(res.actions.every((a) => a.done)).toBe(true);
      expect(readdirSync(roomy)).toHaveLength(res.actions.filter((a) => a.archive !== null).length);
      expect(await rows()).toBe(0);
    });
  }
});
