/**
 * Durable before visible: a file that a later step relies on (a report, an archive, a state file)
 * is written to a temporary name in the same directory opened with O_EXCL, fsynced, renamed over the
 * target, and the directory is fsynced. A crash at any moment leaves either the old file or the new
 * one, whole, never a torn one.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';

export interface DurableWriteOptions {
  /** Permission bits of a newly created file (default 0o644). */
  mode?: number;
}

/** Writes `data` to `file` atomically and durably (see above); the temporary file is removed on failure. */
export async function writeFileDurable(file: string, data: string | Uint8Array, options: DurableWriteOptions = {}): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode ?? 0o644);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

/** Makes a directory's entries (a file created, renamed or linked into it) durable: fsync of the directory. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const d = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
