/**
 * Where rotated query logs come from: local paths and globs, or `ssh://[user@]host[:port]/dir/glob`
 * on name servers. Each source lists its files; each file is opened once, checked, hashed and read
 * through that one open file, and moved away once its rows are committed.
 *
 * Trust: ship runs as root in a directory the name server's user owns, who can put anything there.
 * So a file is opened without following links, checked to be a regular file owned by the expected
 * user (default: the directory's owner) and hashed and streamed from that same open file; moves go
 * through directory descriptors and never through a symbolic link.
 */
import { createHash } from 'node:crypto';
import { constants, readFileSync, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError, errorMessage, matchGlob, parseSshUrl, sshConnect, type SshConnection, type SshOptions } from '@toolbox/shared';

/** A file opened for shipping: its hash and its bytes come from the same open file. */
export interface OpenedLog {
  sha256: string;
  size: number;
  /** The raw bytes (still gzip-compressed for .gz) of the file that was hashed; call once. */
  raw(): Readable;
  close(): void;
}

export type OpenOutcome =
  | { kind: 'open'; log: OpenedLog }
  /** Not shipped, for good: a link, a FIFO, a device, a stranger's file. */
  | { kind: 'refused'; reason: string }
  /** Modified too recently: named may still be writing it; the next run takes it. */
  | { kind: 'young'; ageSeconds: number };

export interface LogFile {
  server: string;
  path: string;
  /** Size when listed (0 for remote files until opened). */
  size: number;
  /** Modification time, ms since the epoch: when listed, then of the opened file (0 for remote files until opened). */
  mtimeMs: number;
  open(): Promise<OpenOutcome>;
  /** Moves the opened file into `dir` (relative to its own directory when not absolute); returns the new path. */
  moveTo(dir: string): Promise<string>;
}

export interface SourceListing {
  files: LogFile[];
  /** Not shipped, and rightly so (the live log). */
  skipped: { path: string; reason: string }[];
  /** Entries with a rotated name that are not regular files: never opened. */
  refused: { path: string; reason: string }[];
}

export interface LogSource {
  /** The server name rows are recorded under. */
  server: string;
  /** As the user wrote it. */
  spec: string;
  list(): Promise<SourceListing>;
  close(): Promise<void>;
}

/** What a file must be to be shipped. */
export interface TrustOptions {
  /** The user that must own the files (name or uid); default the owner of their directory. */
  owner?: string;
  /** Files modified fewer seconds ago than this are left for the next run. */
  minAgeSeconds: number;
  /** Clock (ms since the epoch) for local files; remote files are aged by the remote clock. */
  now?: () => number;
}

const NO_TRUST_LIMITS: TrustOptions = { minAgeSeconds: 0 };

const GLOB_CHARS = /[*?[]/;
const USER_NAME = /^(?:\d+|[A-Za-z_][A-Za-z0-9_.-]*\$?)$/;

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

export function checkOwnerOption(owner: string | undefined): void {
  if (owner !== undefined && !USER_NAME.test(owner)) throw new UserError('E_USAGE', `--owner ${JSON.stringify(owner)}: expected a user name or a numeric uid`);
}

/** What a non-regular directory entry is, for the line that refuses it. */
export function describeKind(st: Pick<Stats, 'isSymbolicLink' | 'isFIFO' | 'isBlockDevice' | 'isCharacterDevice' | 'isSocket' | 'isDirectory'>): string {
  if (st.isSymbolicLink()) return 'a symbolic link (not followed)';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device node';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Read size for local files: large reads, few awaits. */
const READ_CHUNK = 64 * 1024;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = constants;

/** A name inside an opened directory: the kernel resolves it through the descriptor, not the path. */
function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** A local user name to its uid, from /etc/passwd (numeric uids pass through). */
export function localUid(owner: string, passwd: () => string = () => readFileSync('/etc/passwd', 'utf8')): number {
  if (/^\d+$/.test(owner)) return Number(owner);
  for (const line of passwd().split('\n')) {
    const [name, , uid] = line.split(':');
    if (name === owner && uid !== undefined && /^\d+$/.test(uid)) return Number(uid);
  }
  throw new UserError('E_USAGE', `--owner ${owner}: no such user in /etc/passwd`);
}

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

async function openDirectory(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, O_RDONLY | O_DIRECTORY);
  } catch (err) {
    throw new UserError('E_SOURCE', `${what}: cannot open ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export function localSource(spec: string, server: string, trust: TrustOptions = NO_TRUST_LIMITS): LogSource {
  let dirHandle: FileHandle | null = null;
  return {
    server,
    spec,
    async list() {
      const abs = resolve(spec);
      let dir: string;
      let glob: string | null;
      let single: string | null = null;
      // The path as the administrator wrote it is trusted, links and all; what lies in it is not.
      const st = await stat(abs).catch(() => null);
      if (st?.isDirectory()) {
        dir = abs;
        glob = null;
      } else if (st !== null && !GLOB_CHARS.test(basename(abs))) {
        dir = dirname(abs);
        glob = null;
        single = basename(abs);
      } else if (GLOB_CHARS.test(basename(abs))) {
        ({ dir, glob } = splitGlob(abs));
      } else {
        throw new UserError('E_SOURCE', `${spec}: no such file or directory`);
      }
      try {
        await access(dir);
      } catch (err) {
        throw new UserError('E_SOURCE', `${spec}: cannot list ${dir}: ${errorMessage(err)}`, { cause: err });
      }
      const d = (dirHandle = await openDirectory(dir, spec));
      const expectedUid = trust.owner === undefined ? (await d.stat()).uid : localUid(trust.owner);
      let names: string[];
      try {
        names = single !== null ? [single] : (await readdir(at(d, ''))).filter((n) => glob === null || matchGlob(glob, n));
      } catch (err) {
        throw new UserError('E_SOURCE', `${spec}: cannot list ${dir}: ${errorMessage(err)}`, { cause: err });
      }
      const listing: SourceListing = { files: [], skipped: [], refused: [] };
      for (const name of names.sort()) {
        const path = join(dir, name);
        const lst = await lstat(at(d, name)).catch(() => null);
        if (lst === null || lst.isDirectory()) continue;
        if (!isRotatedName(name)) {
          if (lst.isFile()) listing.skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        // Not opened at all: opening a device or a FIFO can have effects of its own.
        if (!lst.isFile()) listing.refused.push({ path, reason: describeKind(lst) });
        else listing.files.push(localFile(server, d, dir, name, lst.size, lst.mtimeMs, expectedUid, trust));
      }
      return listing;
    },
    async close() {
      await dirHandle?.close();
      dirHandle = null;
    },
  };
}

async function access(dir: string): Promise<void> {
  const st = await stat(dir);
  if (!st.isDirectory()) throw new Error('not a directory');
}

async function sha256Of(fh: FileHandle): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fh.createReadStream({ start: 0, autoClose: false, highWaterMark: READ_CHUNK })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function localFile(
  server: string,
  dir: FileHandle,
  dirPath: string,
  name: string,
  size: number,
  mtimeMs: number,
  expectedUid: number,
  trust: TrustOptions,
): LogFile {
  const path = join(dirPath, name);
  /** The inode that was opened and read: the move checks the name still means it. */
  let identity: { dev: number; ino: number } | null = null;
  const file: LogFile = {
    server,
    path,
    size,
    mtimeMs,
    async open(): Promise<OpenOutcome> {
      let fh: FileHandle;
      try {
        // O_NONBLOCK: a FIFO swapped in after the listing must not hang the open.
        fh = await open(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      } catch (err) {
        if (errCode(err) === 'ELOOP') return { kind: 'refused', reason: 'a symbolic link (not followed)' };
        throw new UserError('E_READ', `${server}:${path}: cannot open: ${errorMessage(err)}`, { cause: err });
      }
      let isKept = false;
      try {
        const st = await fh.stat();
        if (!st.isFile()) return { kind: 'refused', reason: describeKind(st) };
        if (st.uid !== expectedUid) {
          return { kind: 'refused', reason: `owned by uid ${st.uid}, not ${expectedUid} (${trust.owner === undefined ? "its directory's owner" : '--owner'}; see --owner)` };
        }
        const ageSeconds = ((trust.now ?? Date.now)() - st.mtimeMs) / 1000;
        if (ageSeconds < trust.minAgeSeconds) return { kind: 'young', ageSeconds: Math.max(0, Math.floor(ageSeconds)) };
        const sha256 = await sha256Of(fh);
        identity = { dev: st.dev, ino: st.ino };
        file.size = st.size;
        file.mtimeMs = st.mtimeMs;
        isKept = true;
        return {
          kind: 'open',
          log: {
            sha256,
            size: st.size,
            raw: () => fh.createReadStream({ start: 0, autoClose: false, highWaterMark: READ_CHUNK }),
            close: () => void fh.close().catch(() => undefined),
          },
        };
      } finally {
        if (!isKept) await fh.close();
      }
    },
    async moveTo(target: string) {
      if (identity === null) throw new UserError('E_MOVE', `${server}:${path}: not moved: it was never opened`);
      const to = await openTargetDir(dir, dirPath, target);
      try {
        const now = await lstat(at(dir, name)).catch(() => null);
        if (now === null || !now.isFile() || now.dev !== identity.dev || now.ino !== identity.ino) {
          throw new UserError('E_MOVE', `${path} was replaced after it was read; not moved`);
        }
        let final = name;
        for (let i = 1; await lstat(at(to.handle, final)).then(() => true, () => false); i++) final = `${name}.${i}`;
        await rename(at(dir, name), at(to.handle, final));
        // Durable before the next run relies on it: both directory entries reach the disk.
        await to.handle.sync();
        await dir.sync();
        return join(to.path, final);
      } catch (err) {
        if (err instanceof UserError) throw err;
        throw new UserError('E_MOVE', `cannot move ${path} to ${to.path}: ${errorMessage(err)}`, { cause: err });
      } finally {
        if (to.handle !== dir) await to.handle.close();
      }
    },
  };
  return file;
}

/**
 * Opens (making it if need be) the directory files move into. A relative target is walked one
 * component at a time from the source directory's descriptor, never through a symbolic link; of
 * an absolute one (the administrator's own path) only the last component must not be a link.
 */
async function openTargetDir(base: FileHandle, basePath: string, target: string): Promise<{ handle: FileHandle; path: string }> {
  let cur = base;
  let curPath = basePath;
  let parts: string[];
  if (isAbsolute(target)) {
    const parent = dirname(posix.normalize(target));
    cur = await openDirectory(parent, `--move-to ${target}`);
    curPath = parent;
    parts = [basename(posix.normalize(target))];
  } else {
    parts = target.split('/').filter((c) => c !== '' && c !== '.');
  }
  try {
    for (const part of parts) {
      const path = join(curPath, part);
      await mkdir(at(cur, part), { mode: 0o755 }).catch((err: unknown) => {
        if (errCode(err) !== 'EEXIST') throw new UserError('E_MOVE', `cannot create ${path}: ${errorMessage(err)}`, { cause: err });
      });
      let next: FileHandle;
      try {
        next = await open(at(cur, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (err) {
        const code = errCode(err);
        if (code === 'ELOOP' || code === 'ENOTDIR') {
          const kind = (await lstat(at(cur, part)).catch(() => null))?.isSymbolicLink() ? 'a symbolic link' : 'not a directory';
          throw new UserError('E_MOVE', `${path} is ${kind}; refusing to move files through it`);
        }
        throw new UserError('E_MOVE', `cannot open ${path}: ${errorMessage(err)}`, { cause: err });
      }
      if (cur !== base) await cur.close();
      cur = next;
      curPath = path;
    }
    return { handle: cur, path: curPath };
  } catch (err) {
    if (cur !== base) await cur.close();
    throw err;
  }
}

export interface SshSourceOptions {
  /** Options shared by every host: key, agent, known_hosts, fingerprint. */
  ssh: Omit<SshOptions, 'host' | 'port' | 'username'>;
  defaultUser: string;
  /** Transport compression for plain (not .gz) files. */
  compress: boolean;
  /** Server name to record; default the URL's host. */
  server?: string;
  trust?: TrustOptions;
}

/** A remote file's hash comes before its bytes; hashing a large file takes a while. */
const REMOTE_OPEN_TIMEOUT_MS = 30 * 60_000;
const LIST_TIMEOUT_MS = 10 * 60_000;

/**
 * Lists the directory's entries other than directories, NUL-separated. `-H`: a log directory that
 * is itself a symbolic link is listed, not skipped. No `-printf` (GNU only): what each file is comes
 * from OPEN_SCRIPT, on the open file.
 */
export function listCommand(dir: string): string[] {
  return ['find', '-H', dir, '-mindepth', '1', '-maxdepth', '1', '!', '-type', 'd', '-print0'];
}

/**
 * Opens `$1` once (after refusing links and anything but a regular file), checks the open file is
 * still what the name is, owned by `$2` (default: the directory's owner) and at least `$3` seconds
 * old, then prints one header line, `OK sha256 size mtime inode device`, and the bytes of that same
 * open file (gzip'ed when `$4` is 1). Otherwise the one line is `REFUSED reason` or `YOUNG age`.
 * POSIX sh, busybox or GNU `stat`/`sha256sum`, and Linux's /proc/self/fd. Paths are positional
 * arguments, never part of the script.
 */
export const OPEN_SCRIPT = [
  'f=$1',
  'if [ -h "$f" ]; then echo "REFUSED a symbolic link (not followed)"; exit 0; fi',
  'if [ ! -e "$f" ]; then echo "cannot open $f: no such file" >&2; exit 1; fi',
  'if [ ! -f "$f" ]; then',
  '  if [ -p "$f" ]; then k="a FIFO"; elif [ -b "$f" ] || [ -c "$f" ]; then k="a device node"; elif [ -S "$f" ]; then k="a socket"; else k="not a regular file"; fi',
  '  echo "REFUSED $k"; exit 0',
  'fi',
  'exec 3<"$f" || exit 1',
  'if [ -h "$f" ] || [ ! -f /proc/self/fd/3 ] || [ ! /proc/self/fd/3 -ef "$f" ]; then echo "REFUSED replaced while it was being opened"; exit 0; fi',
  "m=$(stat -L -c '%s %Y %u %i %d' /proc/self/fd/3) || exit 1",
  'set -- "$f" "$2" "$3" "$4" $m',
  'o=$2',
  'if [ -z "$o" ]; then d=${f%/*}; o=$(stat -L -c %u "${d:-/}/") || exit 1; fi',
  'case $o in *[!0-9]*) o=$(id -u "$o") || exit 1 ;; esac',
  'if [ "$7" != "$o" ]; then echo "REFUSED owned by uid $7, not $o"; exit 0; fi',
  'a=$(( $(date +%s) - $6 ))',
  'if [ "$a" -lt "$3" ]; then echo "YOUNG $a"; exit 0; fi',
  // A second open of the same inode through /proc: it starts at offset 0 and leaves fd 3's alone.
  'h=$(sha256sum /proc/self/fd/3) || exit 1',
  'echo "OK ${h%% *} $5 $6 $8 $9"',
  'if [ "$4" = 1 ]; then exec gzip -c <&3; else exec cat <&3; fi',
].join('\n');

/**
 * Moves `$1` (whose inode and device were `$3` when read) into the directory `$2` (absolute), under
 * a name not yet taken there. The target's last component must be a real directory: the script
 * works from inside it (a working directory holds the inode, not the name) after checking its
 * physical path. Then the directories are synced. Prints the new path.
 */
export const MOVE_SCRIPT = [
  'f=$1; t=$2; d=${f%/*}; n=${f##*/}',
  'cd -P "${d:-/}/" || exit 1; d=$(pwd -P)',
  'if [ -h "$d/$n" ] || [ ! -f "$d/$n" ] || [ "$(stat -c \'%i %d\' "$d/$n")" != "$3" ]; then echo "$f was replaced after it was read; not moved" >&2; exit 3; fi',
  'mkdir -p "$t" || exit 1',
  'if [ -h "$t" ]; then echo "$t is a symbolic link; refusing to move files through it" >&2; exit 3; fi',
  'p=${t%/*}; p=$(cd -P "${p:-/}/" && pwd -P) || exit 1; e=${p%/}/${t##*/}',
  'cd "$t" || exit 1',
  'if [ "$(pwd -P)" != "$e" ]; then echo "$t is a symbolic link; refusing to move files through it" >&2; exit 3; fi',
  'm=$n; i=0; while [ -e "$m" ] || [ -h "$m" ]; do i=$((i+1)); m=$n.$i; done',
  'mv -- "$d/$n" "./$m" || exit 1',
  // The rename is durable only once both directories are on disk; an old sync without arguments syncs all.
  'sync . "$d" 2>/dev/null || sync',
  'printf "%s" "$e/$m"',
].join('\n');

export function sshSource(spec: string, opts: SshSourceOptions): LogSource {
  const url = parseSshUrl(spec);
  if (!url.path || url.path === '/') throw new UserError('E_SOURCE', `${spec}: give the remote directory or glob, e.g. ssh://ns1/var/log/named/query.log.*`);
  const server = opts.server ?? url.host;
  const trust = opts.trust ?? NO_TRUST_LIMITS;
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
      const r = await c.exec(listCommand(dir), { timeoutMs: LIST_TIMEOUT_MS });
      if (r.code !== 0) {
        throw new UserError('E_SOURCE', `${spec}: cannot list ${dir} on ${url.host}: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
      }
      const listing: SourceListing = { files: [], skipped: [], refused: [] };
      const paths = r.stdout.toString('utf8').split('\0').filter((p) => p !== '').sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const path of paths) {
        const name = basename(path);
        if (!matchGlob(glob, name)) continue;
        if (!isRotatedName(name)) {
          listing.skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        listing.files.push(remoteFile(c, server, path, trust, opts.compress));
      }
      return listing;
    },
    close() {
      conn?.close();
      conn = null;
      return Promise.resolve();
    },
  };
}

/** Reads the header line a remote command writes before the file's bytes; the rest stays in the stream. */
export async function readHeaderLine(stream: Readable, what: string, max = 512): Promise<string> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl >= 0) {
        if (nl + 1 < buf.length) stream.unshift(buf.subarray(nl + 1));
        return buf.subarray(0, nl).toString('utf8');
      }
      if (buf.length > max) throw new UserError('E_READ', `${what}: the remote command sent no header line`);
      continue;
    }
    if (stream.readableEnded || stream.destroyed) throw new UserError('E_READ', `${what}: the remote command ended without a header line`);
    await new Promise<void>((res, rej) => {
      const done = (err?: Error) => {
        stream.off('readable', onReadable);
        stream.off('end', onEnd);
        stream.off('error', done);
        if (err) rej(err);
        else res();
      };
      const onReadable = () => done();
      const onEnd = () => done();
      stream.on('readable', onReadable);
      stream.on('end', onEnd);
      stream.on('error', done);
    });
  }
}

function remoteFile(c: SshConnection, server: string, path: string, trust: TrustOptions, compress: boolean): LogFile {
  let identity: string | null = null;
  const file: LogFile = {
    server,
    path,
    size: 0,
    mtimeMs: 0,
    async open(): Promise<OpenOutcome> {
      const isCompressed = compress && !isGzipName(path);
      const argv = ['sh', '-c', OPEN_SCRIPT, 'sh', path, trust.owner ?? '', String(trust.minAgeSeconds), isCompressed ? '1' : '0'];
      const out = await c.streamCommand(argv, path, { timeoutMs: REMOTE_OPEN_TIMEOUT_MS });
      let header: string;
      try {
        header = await readHeaderLine(out, `${server}:${path}`);
      } catch (err) {
        out.destroy();
        throw err;
      }
      const refused = /^REFUSED (.*)$/.exec(header);
      const young = /^YOUNG (-?\d+)$/.exec(header);
      const ok = /^OK ([0-9a-f]{64}) (\d+) (\d+) (\d+ \d+)$/.exec(header);
      if (!ok) out.destroy();
      if (refused) return { kind: 'refused', reason: refused[1] ?? '' };
      if (young) return { kind: 'young', ageSeconds: Math.max(0, Number(young[1])) };
      if (!ok) throw new UserError('E_READ', `${server}:${path}: unexpected answer from the remote host: ${JSON.stringify(header.slice(0, 100))}`);
      identity = ok[4] ?? null;
      file.size = Number(ok[2]);
      file.mtimeMs = Number(ok[3]) * 1000;
      return {
        kind: 'open',
        log: {
          sha256: ok[1] ?? '',
          size: Number(ok[2]),
          raw() {
            if (!isCompressed) return out;
            const gunzip = createGunzip();
            out.on('error', (err) => gunzip.destroy(err));
            return out.pipe(gunzip);
          },
          close: () => void out.destroy(),
        },
      };
    },
    async moveTo(dir: string) {
      if (identity === null) throw new UserError('E_MOVE', `${server}:${path}: not moved: it was never opened`);
      const target = posix.normalize(dir.startsWith('/') ? dir : posix.join(posix.dirname(path), dir)).replace(/(.)\/$/, '$1');
      const r = await c.exec(['sh', '-c', MOVE_SCRIPT, 'sh', path, target, identity]);
      if (r.code !== 0) throw new UserError('E_MOVE', `${server}: cannot move ${path} to ${target}: ${r.stderr.toString().trim() || `exit ${r.code}`}`);
      return r.stdout.toString('utf8');
    },
  };
  return file;
}
