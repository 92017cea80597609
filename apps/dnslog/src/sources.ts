/**
 * Where rotated query logs come from: local paths and globs, or `ssh://[user@]host[:port]/dir/glob`
 * on name servers. Each source lists its files; each file can be hashed, opened (raw bytes) and
 * moved away once its rows are committed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError, errorMessage, matchGlob, parseSshUrl, sshConnect, type SshConnection, type SshOptions } from '@toolbox/shared';

export interface LogFile {
  server: string;
  path: string;
  size: number;
  mtimeMs: number;
  sha256(): Promise<string>;
  /** The file's raw bytes (still gzip-compressed for .gz). */
  openRaw(): Promise<Readable>;
  /** Moves the file into `dir` (relative to the file's own directory when not absolute); returns the new path. */
  moveTo(dir: string): Promise<string>;
}

export interface LogSource {
  /** The server name rows are recorded under. */
  server: string;
  /** As the user wrote it. */
  spec: string;
  list(): Promise<{ files: LogFile[]; skipped: { path: string; reason: string }[] }>;
  close(): Promise<void>;
}

const GLOB_CHARS = /[*?[]/;

/**
 * A rotated log's name ends in a rotation suffix: `.0`, `.12`, `.20261125093000`, `-20261125`,
 * optionally `.gz`. The live log (`query.log`) has none and is never shipped: named still writes it.
 */
export function isRotatedName(name: string): boolean {
  return /(?:\.\d+|-\d{8,14})(?:\.gz)?$/.test(name);
}

export function isGzipName(name: string): boolean {
  return name.endsWith('.gz');
}

/** Splits `/var/log/named/query.log.*` into its directory and the glob on names. */
export function splitGlob(pattern: string): { dir: string; glob: string } {
  const dir = dirname(pattern);
  if (GLOB_CHARS.test(dir)) {
    throw new UserError('E_SOURCE', `${pattern}: wildcards are allowed in the file name only, not in directories`);
  }
  return { dir, glob: basename(pattern) };
}

/** Read size for local files: large reads, few awaits. */
const READ_CHUNK = 64 * 1024;

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A free name in `dir` for `name`: `name`, then `name.1`, `name.2`… so nothing is overwritten. */
async function freeName(dir: string, name: string, exists: (p: string) => Promise<boolean>): Promise<string> {
  let candidate = join(dir, name);
  for (let i = 1; await exists(candidate); i++) candidate = join(dir, `${name}.${i}`);
  return candidate;
}

const localExists = async (p: string) => {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
};

export function localSource(spec: string, server: string): LogSource {
  return {
    server,
    spec,
    async list() {
      const abs = resolve(spec);
      let dir: string;
      let glob: string | null;
      const st = await stat(abs).catch(() => null);
      if (st?.isDirectory()) {
        dir = abs;
        glob = null;
      } else if (st?.isFile()) {
        dir = dirname(abs);
        glob = basename(abs);
      } else if (GLOB_CHARS.test(basename(abs))) {
        ({ dir, glob } = splitGlob(abs));
      } else {
        throw new UserError('E_SOURCE', `${spec}: no such file or directory`);
      }
      let names: string[];
      try {
        names = st?.isFile() ? [basename(abs)] : (await readdir(dir)).filter((n) => glob === null || matchGlob(glob, n));
      } catch (err) {
        throw new UserError('E_SOURCE', `${spec}: cannot list ${dir}: ${errorMessage(err)}`, { cause: err });
      }
      const files: LogFile[] = [];
      const skipped: { path: string; reason: string }[] = [];
      for (const name of names.sort()) {
        const path = join(dir, name);
        const fst = await stat(path);
        if (!fst.isFile()) continue;
        if (!isRotatedName(name)) {
          skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        files.push(localFile(server, path, fst.size, fst.mtimeMs));
      }
      return { files, skipped };
    },
    close: () => Promise.resolve(),
  };
}

function localFile(server: string, path: string, size: number, mtimeMs: number): LogFile {
  return {
    server,
    path,
    size,
    mtimeMs,
    sha256: () => sha256OfFile(path),
    openRaw: () => Promise.resolve(createReadStream(path, { highWaterMark: READ_CHUNK })),
    async moveTo(dir: string) {
      const target = resolve(dirname(path), dir);
      await mkdir(target, { recursive: true });
      const dest = await freeName(target, basename(path), localExists);
      await rename(path, dest);
      return dest;
    },
  };
}

export interface SshSourceOptions {
  /** Options shared by every host: key, agent, known_hosts, fingerprint. */
  ssh: Omit<SshOptions, 'host' | 'port' | 'username'>;
  defaultUser: string;
  /** Transport compression for plain (not .gz) files. */
  compress: boolean;
  /** Server name to record; default the URL's host. */
  server?: string;
}

export function sshSource(spec: string, opts: SshSourceOptions): LogSource {
  const url = parseSshUrl(spec);
  if (!url.path || url.path === '/') throw new UserError('E_SOURCE', `${spec}: give the remote directory or glob, e.g. ssh://ns1/var/log/named/query.log.*`);
  const server = opts.server ?? url.host;
  let conn: SshConnection | null = null;
  const connect = async () =>
    (conn ??= await sshConnect({ ...opts.ssh, host: url.host, port: url.port ?? 22, username: url.username ?? opts.defaultUser }));
  const remotePath = url.path;
  return {
    server,
    spec,
    async list() {
      const c = await connect();
      const hasGlob = GLOB_CHARS.test(basename(remotePath));
      const { dir, glob } = hasGlob ? splitGlob(remotePath) : { dir: remotePath, glob: '*' };
      // size, mtime and name of every regular file, NUL-separated so any name survives.
      const r = await c.exec(['find', dir, '-maxdepth', '1', '-type', 'f', '-printf', '%s %T@ %p\\0']);
      if (r.code !== 0) {
        throw new UserError('E_SOURCE', `${spec}: cannot list ${dir} on ${url.host}: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
      }
      const found: { path: string; size: number; mtimeMs: number }[] = [];
      const skipped: { path: string; reason: string }[] = [];
      for (const rec of r.stdout.toString('utf8').split('\0')) {
        const m = /^(\d+) (\d+(?:\.\d+)?) (.*)$/s.exec(rec);
        if (!m) continue;
        const path = m[3] ?? '';
        const name = basename(path);
        if (!matchGlob(glob, name)) continue;
        if (!isRotatedName(name)) {
          skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        found.push({ path, size: Number(m[1]), mtimeMs: Number(m[2]) * 1000 });
      }
      found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      // One remote command hashes every file: each command costs a round trip and a login shell.
      const hashes = await remoteHashes(c, spec, found.map((f) => f.path));
      const files = found.map((f) => remoteFile(c, server, f.path, f.size, f.mtimeMs, hashes.get(f.path) ?? null, opts.compress));
      return { files, skipped };
    },
    close() {
      conn?.close();
      conn = null;
      return Promise.resolve();
    },
  };
}

/** sha256 of each remote file, from one `sha256sum -z` (NUL-terminated records, so any name survives). */
async function remoteHashes(c: SshConnection, spec: string, paths: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  const r = await c.exec(['sha256sum', '-z', '--', ...paths], { timeoutMs: 3_600_000 });
  for (const rec of r.stdout.toString('utf8').split('\0')) {
    const m = /^([0-9a-f]{64}) [ *](.*)$/s.exec(rec);
    if (m) out.set(m[2] ?? '', m[1] ?? '');
  }
  if (r.code !== 0 && out.size === 0) throw new UserError('E_SOURCE', `${spec}: sha256sum failed: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
  return out;
}

/**
 * Moves `path` into `dir` under a name not yet taken there, in one remote command. The script is a
 * fixed string; the paths reach it as positional arguments, quoted by the shared helper.
 */
const MOVE_SCRIPT = 'mkdir -p -- "$2" || exit 1; t="$2/${1##*/}"; i=0; while [ -e "$t" ]; do i=$((i+1)); t="$2/${1##*/}.$i"; done; mv -- "$1" "$t" && printf "%s" "$t"';

function remoteFile(
  c: SshConnection,
  server: string,
  path: string,
  size: number,
  mtimeMs: number,
  sha: string | null,
  compress: boolean,
): LogFile {
  return {
    server,
    path,
    size,
    mtimeMs,
    sha256() {
      if (sha === null) return Promise.reject(new UserError('E_SOURCE', `${server}:${path}: could not be hashed (unreadable?)`));
      return Promise.resolve(sha);
    },
    openRaw: () => c.streamFile(path, { compress: compress && !isGzipName(path) }),
    async moveTo(dir: string) {
      const target = dir.startsWith('/') ? dir : join(dirname(path), dir);
      const r = await c.exec(['sh', '-c', MOVE_SCRIPT, 'sh', path, target]);
      if (r.code !== 0) throw new UserError('E_MOVE', `${server}: cannot move ${path} to ${target}: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
      return r.stdout.toString('utf8');
    },
  };
}
