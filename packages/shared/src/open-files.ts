/**
 * Which processes hold a file open, and whether for writing: read from /proc/<pid>/fd (which inode
 * each descriptor is) and /proc/<pid>/fdinfo (its open flags). One scan answers for a whole set of
 * files. Without root only the caller's own processes are visible; a process that exits during the
 * scan is skipped.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** `dev:ino` of a file, as Node's Stats (bigint or not) print both fields. */
export const fileId = (st: { dev: bigint | number; ino: bigint | number }): string => `${st.dev}:${st.ino}`;

export interface FileUser {
  pid: number;
  /** The process's name (/proc/<pid>/comm), `?` when it could not be read. */
  comm: string;
  fd: number;
  writable: boolean;
}

/** The access mode of an fdinfo `flags:` line (octal): is it open for writing? */
export function fdinfoWritable(fdinfo: string): boolean {
  const m = /^flags:\s*([0-7]+)$/m.exec(fdinfo);
  if (!m) return false;
  const acc = parseInt(m[1] ?? '0', 8) & 3;
  return acc === 1 || acc === 2;
}

async function readTrimmed(p: string): Promise<string | null> {
  try {
    return (await fsp.readFile(p, 'utf8')).trim();
  } catch {
    return null;
  }
}

/**
 * The other processes (all but `selfPid`) holding any of these files (by `fileId`) open, sorted by
 * pid and fd; files nobody holds are absent from the map.
 */
export async function findFileUsers(
  ids: ReadonlySet<string>,
  opts: { selfPid?: number; proc?: string } = {},
): Promise<Map<string, FileUser[]>> {
  const selfPid = opts.selfPid ?? process.pid;
  const proc = opts.proc ?? '/proc';
  const out = new Map<string, FileUser[]>();
  if (ids.size === 0) return out;
  const pids = (await fsp.readdir(proc).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n) && Number(n) !== selfPid);
  await Promise.all(
    pids.map(async (pid) => {
      const fds = await fsp.readdir(path.join(proc, pid, 'fd')).catch(() => [] as string[]);
      for (const fd of fds) {
        const st = await fsp.stat(path.join(proc, pid, 'fd', fd), { bigint: true }).catch(() => null);
        if (!st || !st.isFile() || !ids.has(fileId(st))) continue;
        const info = (await readTrimmed(path.join(proc, pid, 'fdinfo', fd))) ?? '';
        const comm = (await readTrimmed(path.join(proc, pid, 'comm'))) ?? '?';
        const users = out.get(fileId(st)) ?? [];
        users.push({ pid: Number(pid), comm, fd: Number(fd), writable: fdinfoWritable(info) });
        out.set(fileId(st), users);
      }
    }),
  );
  for (const users of out.values()) users.sort((a, b) => a.pid - b.pid || a.fd - b.fd);
  return out;
}

/** `PID 42 (named), PID 7 (sh)`: who holds a file, for a message. */
export function describeFileUsers(users: readonly FileUser[]): string {
  const seen = new Set<number>();
  const parts: string[] = [];
  for (const u of users) {
    if (seen.has(u.pid)) continue;
    seen.add(u.pid);
    parts.push(`PID ${u.pid} (${u.comm})`);
  }
  return parts.join(', ');
}
