import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileDurable } from './durable-write.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'durable-'));
});
afterEach(() => {
  chmodSync(dir, 0o755);
  rmSync(dir, { recursive: true, force: true });
});

describe('writeFileDurable', () => {
  it('replaces the file whole and leaves no temporary file', async () => {
    const f = path.join(dir, 'report.json');
    writeFileSync(f, 'old');
    await writeFileDurable(f, '{"new":true}\n');
    expect(readFileSync(f, 'utf8')).toBe('{"new":true}\n');
    expect(readdirSync(dir)).toEqual(['report.json']);
  });

  it('replaces a symlink at the name instead of writing through it', async () => {
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'keep');
    const f = path.join(dir, 'link');
    symlinkSync(victim, f);
    await writeFileDurable(f, 'new');
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(readFileSync(f, 'utf8')).toBe('new');
  });

  it('fails with the error and leaves the old file when the directory cannot take the new one', async () => {
    const f = path.join(dir, 'report.json');
    writeFileSync(f, 'old');
    if (process.getuid?.() === 0) {
      // root ignores permissions: a missing directory fails the same way
      await expect(writeFileDurable(path.join(dir, 'gone', 'r.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    } else {
      chmodSync(dir, 0o555);
      await expect(writeFileDurable(f, 'new')).rejects.toMatchObject({ code: 'EACCES' });
    }
    expect(readFileSync(f, 'utf8')).toBe('old');
  });

  it('removes its temporary file when the rename fails, and leaves what was at the name', async () => {
    // a non-empty directory at the name: the temporary file is written, then the rename fails
    const f = path.join(dir, 'state.json');
    mkdirSync(f);
    writeFileSync(path.join(f, 'inside'), 'old');
    await expect(writeFileDurable(f, 'new')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect(readdirSync(dir)).toEqual(['state.json']);
    expect(readFileSync(path.join(f, 'inside'), 'utf8')).toBe('old');
  });
});
