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
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  UserError,
  describeFileUsers,
  errorMessage,
  fileId,
  findFileUsers,
  matchGlob,
  parseSshUrl,
  sshConnect,
  type SshConnection,
  type SshOptions,
} from '@toolbox/shared';
import { localZone, timeZone } from '../time/zone.js';

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
  | { kind: 'young'; ageSeconds: number }
  /** Held open for writing by another process (`PID 42 (named)`), whatever its age; the next run takes it. */
  | { kind: 'busy'; writers: string };

export interface LogFile {
  server: string;
  path: string;
  /** Size when listed (0 for remote files until opened). */
  size: number;
  /** Modification time, ms since the epoch: when listed, then of the opened file (0 for remote files until opened). */
  mtimeMs: number;
  /** The zone of the clock that wrote lines without one of their own (`--tz`, else the writing host's). */
  zone: string;
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
  if (owner !== undefined && !USER_NAME.test(owner))
    throw new UserError('E_USAGE', `--owner ${JSON.stringify(owner)}: expected a user name or a numeric uid`);
}

/** What a non-regular directory entry is, for the line that refuses it. */
export function describeKind(
  st: Pick<Stats, 'isSymbolicLink' | 'isFIFO' | 'isBlockDevice' | 'isCharacterDevice' | 'isSocket' | 'isDirectory'>,
): string {
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

export function localSource(spec: string, server: string, trust: TrustOptions = NO_TRUST_LIMITS, zone?: string): LogSource {
  let dirHandle: FileHandle | null = null;
  const zoneName = zone ?? localZone().name;
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
      const writers = new WriterScan();
      for (const name of names.sort()) {
        const path = join(dir, name);
        const lst = await lstat(at(d, name), { bigint: true }).catch(() => null);
        if (lst === null || lst.isDirectory()) continue;
        if (!isRotatedName(name)) {
          if (lst.isFile()) listing.skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        // Not opened at all: opening a device or a FIFO can have effects of its own.
        if (!lst.isFile()) listing.refused.push({ path, reason: describeKind(lst) });
        else {
          writers.add(fileId(lst));
          listing.files.push(localFile(server, d, dir, name, Number(lst.size), Number(lst.mtimeMs), expectedUid, trust, writers, zoneName));
        }
      }
      return listing;
    },
    async close() {
      await dirHandle?.close();
      dirHandle = null;
    },
  };
}

/**
 * Who holds the listed files open for writing: one /proc scan for the whole listing (a scan per file
 * would cost a walk of every process's descriptors each time), and a scan of its own for a file
 * whose inode was not listed (replaced since).
 */
class WriterScan {
  private readonly ids = new Set<string>();
  private scan: Promise<Map<string, string>> | null = null;

  add(id: string): void {
    this.ids.add(id);
  }

  /** `PID 42 (named)` for a file held open for writing by another process, or null. */
  async writersOf(id: string): Promise<string | null> {
    if (!this.ids.has(id)) return (await WriterScan.run(new Set([id]))).get(id) ?? null;
    this.scan ??= WriterScan.run(this.ids);
    return (await this.scan).get(id) ?? null;
  }

  private static async run(ids: ReadonlySet<string>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [id, users] of await findFileUsers(ids)) {
      const writing = users.filter((u) => u.writable);
      if (writing.length > 0) out.set(id, describeFileUsers(writing));
    }
    return out;
  }
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
  writers: WriterScan,
  zone: string,
): LogFile {
  const path = join(dirPath, name);
  /** The inode that was opened and read: the move checks the name still means it. */
  let identity: { dev: number; ino: number } | null = null;
  const file: LogFile = {
    server,
    path,
    size,
    mtimeMs,
    zone,
    async open(): Promise<OpenOutcome> {
      let fh: FileHandle;
      try {
        // O_NONBLOCK: a FIFO swapped in after the listing must not hang the open.
        fh = await open(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
      } catch (err) {
        if (errCode(err) === 'ELOOP') return { kind: 'refused', reason: 'a symbolic link (not followed)' };
        throw new UserError('E_READ', `cannot open: ${errorMessage(err)}`, { cause: err });
      }
      let isKept = false;
      try {
        const st = await fh.stat();
        if (!st.isFile()) return { kind: 'refused', reason: describeKind(st) };
        if (st.uid !== expectedUid) {
          return {
            kind: 'refused',
            reason: `owned by uid ${st.uid}, not ${expectedUid} (${trust.owner === undefined ? "its directory's owner" : '--owner'}; see --owner)`,
          };
        }
        // --min-age 0 defers nothing: a file written in this very millisecond has an mtime with a
        // fraction past Date.now()'s whole milliseconds, an age just below zero.
        const ageSeconds = ((trust.now ?? Date.now)() - st.mtimeMs) / 1000;
        if (trust.minAgeSeconds > 0 && ageSeconds < trust.minAgeSeconds)
          return { kind: 'young', ageSeconds: Math.max(0, Math.floor(ageSeconds)) };
        // A rotated name does not mean named let go of it (a failed reopen, a rotation outside the
        // schedule): its tail would be lost once the file is moved. Asked of the inode opened.
        const holders = await writers.writersOf(fileId(await fh.stat({ bigint: true })));
        if (holders !== null) return { kind: 'busy', writers: holders };
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
      if (identity === null) throw new UserError('E_MOVE', 'not moved: it was never opened');
      const to = await openTargetDir(dir, dirPath, target);
      try {
        const now = await lstat(at(dir, name)).catch(() => null);
        if (now === null || !now.isFile() || now.dev !== identity.dev || now.ino !== identity.ino) {
          throw new UserError('E_MOVE', `${path} was replaced after it was read; not moved`);
        }
        let final = name;
        for (
          let i = 1;
          await lstat(at(to.handle, final)).then(
            () => true,
            () => false,
          );
          i++
        )
          final = `${name}.${i}`;
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
  /** The zone of the server's lines (`--tz`); default the remote host's own (remoteZoneCommand). */
  zoneOf?: (server: string) => string | undefined;
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
 * A backlog costs one remote command for all its files, not one or two per file: every command
 * pays the remote user's shell start-up (on the test host root's .bashrc: ~0.3 s), which for
 * 10,000 files is most of an hour. Names come on stdin, NUL-separated, and xargs hands them to
 * OPEN_BATCH_BODY in chunks under ARG_MAX; the command line is the same for 1 file or 100,000.
 *
 * `$1` owner (empty: each file's directory's owner), `$2` minimum age in seconds, `$3` 1 to gzip
 * the whole output, `$4` the body. The clock is read once: a file ages during the batch, so the
 * check errs towards leaving it for the next run.
 */
export const OPEN_BATCH_SCRIPT = [
  'o=$1; a=$2; z=$3; b=$4',
  'case $o in *[!0-9]*) o=$(id -u "$o") || exit 1 ;; esac',
  't=$(date +%s) || exit 1',
  'if [ "$z" = 1 ]; then xargs -0 sh -c "$b" sh "$o" "$a" "$t" | gzip -c; else exec xargs -0 sh -c "$b" sh "$o" "$a" "$t"; fi',
].join('\n');

/**
 * For each name, what OPEN_SCRIPT does for one, as a frame: the name, a NUL, one header line
 * (`OK sha256 size mtime inode device`, `REFUSED reason`, `YOUNG age` or `ERROR reason`) and for
 * OK exactly `size` bytes of the open file. A file that shrank after its size was taken is padded
 * with zeros (fd 3's offset tells how much `head` read), so the next frame starts where the
 * reader expects it, and the hash, taken before, no longer matches: the file is not kept.
 *
 * Files go in groups of up to seven, on descriptors 3 to 9 (the most a POSIX shell names), so one
 * `stat` and one `sha256sum` serve the group: a process costs about a millisecond, a backlog has
 * thousands of files. Per file only `head` runs; the rest is shell built-ins. A function's own
 * positional parameters split the tools' output, leaving the names queued in the script's.
 */
export const OPEN_BATCH_BODY = [
  'o=$1; a=$2; t=$3; shift 3; ld=; lo=',
  'set -f',
  'stats() { for k in $sl; do [ $# -ge 5 ] || return 1; eval "s$k=\\$1 y$k=\\$2 u$k=\\$3 i$k=\\"\\$4 \\$5\\""; shift 5; done; }',
  'hashes() { for k in $hl; do [ $# -ge 2 ] || return 1; eval "h$k=\\$1"; shift 2; done; }',
  'fds() { p=; for k; do p="$p /proc/self/fd/$k"; done; }',
  'while [ $# -gt 0 ]; do',
  '  k=3; sl=',
  '  while [ "$k" -le 9 ] && [ $# -gt 0 ]; do',
  '    f=$1; shift; r=',
  '    if [ -h "$f" ]; then r=\'REFUSED a symbolic link (not followed)\'',
  '    elif [ ! -e "$f" ]; then r=\'ERROR no such file\'',
  '    elif [ ! -f "$f" ]; then',
  '      if [ -p "$f" ]; then r=\'REFUSED a FIFO\'; elif [ -b "$f" ] || [ -c "$f" ]; then r=\'REFUSED a device node\'; elif [ -S "$f" ]; then r=\'REFUSED a socket\'; else r=\'REFUSED not a regular file\'; fi',
  // `command`: a failed redirection on exec would otherwise end the shell, and the batch with it.
  '    elif ! { command eval "exec $k<\\"\\$f\\""; } 2>/dev/null; then r=\'ERROR cannot open it\'',
  '    elif [ -h "$f" ] || [ ! -f /proc/self/fd/$k ] || [ ! /proc/self/fd/$k -ef "$f" ]; then eval "exec $k<&-"; r=\'REFUSED replaced while it was being opened\'',
  '    else sl="$sl $k"; fi',
  '    eval "n$k=\\$f; r$k=\\$r"',
  '    k=$((k + 1))',
  '  done',
  '  e=$k; hl=',
  '  if [ -n "$sl" ]; then',
  "    fds $sl; m=$(stat -L -c '%s %Y %u %i %d' $p) || m=",
  '    if ! stats $m; then for k in $sl; do eval "exec $k<&-; r$k=\'ERROR cannot stat it\'"; done; sl=; fi',
  '  fi',
  '  for k in $sl; do',
  '    eval "f=\\$n$k; u=\\$u$k; y=\\$y$k"',
  '    w=$o',
  '    if [ -z "$w" ]; then d=${f%/*}; if [ "$d" != "$ld" ]; then lo=$(stat -L -c %u "${d:-/}/") || lo=unknown; ld=$d; fi; w=$lo; fi',
  '    g=$((t - y)); r=',
  '    if [ "$u" != "$w" ]; then r="REFUSED owned by uid $u, not $w"; elif [ "$g" -lt "$a" ]; then r="YOUNG $g"; else hl="$hl $k"; fi',
  '    if [ -n "$r" ]; then eval "exec $k<&-; r$k=\\$r"; fi',
  '  done',
  '  if [ -n "$hl" ]; then',
  '    fds $hl; h=$(sha256sum $p) || h=',
  '    if ! hashes $h; then for k in $hl; do eval "exec $k<&-; r$k=\'ERROR cannot hash it\'"; done; fi',
  '  fi',
  '  k=3',
  '  while [ "$k" -lt "$e" ]; do',
  '    eval "f=\\$n$k; r=\\$r$k"',
  '    if [ -n "$r" ]; then printf \'%s\\0%s\\n\' "$f" "$r"',
  '    else',
  '      eval "s=\\$s$k; y=\\$y$k; i=\\$i$k; h=\\$h$k"',
  '      printf \'%s\\0OK %s %s %s %s\\n\' "$f" "$h" "$s" "$y" "$i"',
  '      head -c "$s" <&$k',
  '      q=0; while read -r x v; do if [ "$x" = pos: ]; then q=$v; fi; done </proc/self/fdinfo/$k',
  '      if [ "$q" -lt "$s" ]; then head -c $((s - q)) /dev/zero; fi',
  '      eval "exec $k<&-"',
  '    fi',
  '    k=$((k + 1))',
  '  done',
  'done',
].join('\n');

/**
 * Moves many files into the directory `$1` (absolute); records come on stdin, NUL-separated, each
 * `inode device path` as the file was read. `$2` is the body. A file is moved only if it still is
 * that inode and no link; the target's last component must be a real directory: the body works
 * from inside it (a working directory holds the inode, not the name) after checking its physical
 * path. Each moved file gets a name not yet taken there.
 */
export const MOVE_BATCH_SCRIPT = 't=$1; b=$2; exec xargs -0 sh -c "$b" sh "$t"';

/**
 * Answers, NUL-separated, `M old new` for a file moved, `F old reason` for one not moved, and `S`
 * once the moves before it are synced to disk: a move counts as done only when its S arrived.
 */
export const MOVE_BATCH_BODY = [
  't=$1; shift',
  'mkdir -p "$t" || exit 1',
  'if [ -h "$t" ]; then echo "$t is a symbolic link; refusing to move files through it" >&2; exit 3; fi',
  'p=${t%/*}; p=$(cd -P "${p:-/}/" && pwd -P) || exit 1; e=${p%/}/${t##*/}',
  'cd "$t" || exit 1',
  'if [ "$(pwd -P)" != "$e" ]; then echo "$t is a symbolic link; refusing to move files through it" >&2; exit 3; fi',
  'set -f; ld=; dd=; nd=0',
  // As in OPEN_BATCH_BODY: groups of up to seven on descriptors 3 to 9, one `stat` per group.
  'ids() { for k in $sl; do [ $# -ge 2 ] || return 1; eval "j$k=\\"\\$1 \\$2\\""; shift 2; done; }',
  'while [ $# -gt 0 ]; do',
  '  k=3; sl=; fp=',
  '  while [ "$k" -le 9 ] && [ $# -gt 0 ]; do',
  '    r=$1; shift',
  '    i=${r%% *}; r=${r#* }; i="$i ${r%% *}"; f=${r#* }; d=${f%/*}; n=${f##*/}; x=',
  '    if [ "$d" != "$ld" ]; then',
  '      if dd=$(cd -P "${d:-/}/" && pwd -P); then ld=$d; nd=$((nd + 1)); else ld=; x="cannot enter its directory"; fi',
  '    fi',
  '    if [ -z "$x" ]; then',
  '      if [ -h "$dd/$n" ] || [ ! -f "$dd/$n" ] || ! { command eval "exec $k<\\"\\$dd/\\$n\\""; } 2>/dev/null; then x="$f was replaced after it was read; not moved"',
  '      else sl="$sl $k"; fp="$fp /proc/self/fd/$k"; fi',
  '    fi',
  '    eval "f$k=\\$f; w$k=\\$dd/\\$n; n$k=\\$n; i$k=\\$i; x$k=\\$x"',
  '    k=$((k + 1))',
  '  done',
  '  z=$k',
  '  if [ -n "$sl" ]; then q=$(stat -L -c \'%i %d\' $fp) || q=; if ! ids $q; then for k in $sl; do eval "x$k=\'cannot stat it\'"; done; fi; fi',
  '  k=3',
  '  while [ "$k" -lt "$z" ]; do',
  '    eval "f=\\$f$k; w=\\$w$k; n=\\$n$k; x=\\$x$k"',
  '    if [ -z "$x" ]; then',
  '      eval "i=\\$i$k; j=\\$j$k"',
  // The name must still be the inode that was read and committed: never a file swapped in since.
  '      if [ "$i" != "$j" ] || [ -h "$w" ] || [ ! "$w" -ef /proc/self/fd/$k ]; then x="$f was replaced after it was read; not moved"; fi',
  '    fi',
  '    if [ -z "$x" ]; then',
  '      m=$n; c=0; while [ -e "$m" ] || [ -h "$m" ]; do c=$((c + 1)); m=$n.$c; done',
  // mv's own message goes to stderr, which the answer quotes.
  '      if mv -- "$w" "./$m"; then printf \'M\\0%s\\0%s\\0\' "$f" "$e/$m"; else printf \'F\\0%s\\0mv failed\\0\' "$f"; fi',
  '    else printf \'F\\0%s\\0%s\\0\' "$f" "$x"',
  '    fi',
  '    case " $sl " in *" $k "*) eval "exec $k<&-" ;; esac',
  '    k=$((k + 1))',
  '  done',
  'done',
  // Both directories' entries reach the disk; an old sync without arguments syncs everything.
  'if [ "$nd" = 1 ]; then sync . "$dd" 2>/dev/null || sync; else sync; fi',
  "printf 'S\\0'",
].join('\n');

export function openBatchCommand(owner: string, minAgeSeconds: number, compress: boolean): string[] {
  return ['sh', '-c', OPEN_BATCH_SCRIPT, 'sh', owner, String(minAgeSeconds), compress ? '1' : '0', OPEN_BATCH_BODY];
}

export function moveBatchCommand(target: string): string[] {
  return ['sh', '-c', MOVE_BATCH_SCRIPT, 'sh', target, MOVE_BATCH_BODY];
}

/** What NUL-separated names on stdin look like; a name with a NUL cannot exist. */
export function nulList(items: readonly string[]): Buffer {
  return Buffer.from(items.map((i) => `${i}\0`).join(''), 'utf8');
}

export function sshSource(spec: string, opts: SshSourceOptions): LogSource {
  const url = parseSshUrl(spec);
  if (!url.path || url.path === '/')
    throw new UserError('E_SOURCE', `${spec}: give the remote directory or glob, e.g. ssh://ns1/var/log/named/query.log.*`);
  const server = opts.server ?? url.host;
  const trust = opts.trust ?? NO_TRUST_LIMITS;
  let conn: SshConnection | null = null;
  const connect = async () =>
    (conn ??= await sshConnect({ ...opts.ssh, host: url.host, port: url.port ?? 22, username: url.username ?? opts.defaultUser }));
  const remotePath = url.path;
  let zone: string | undefined;
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
      const paths = r.stdout
        .toString('utf8')
        .split('\0')
        .filter((p) => p !== '')
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const rotated: string[] = [];
      for (const path of paths) {
        const name = basename(path);
        if (!matchGlob(glob, name)) continue;
        if (!isRotatedName(name)) {
          listing.skipped.push({ path, reason: 'no rotation suffix: the live log is never shipped' });
          continue;
        }
        rotated.push(path);
      }
      const batch = new RemoteOpenBatch(c, server, rotated, trust, opts.compress);
      const mover = new RemoteMoveBatch(c, server);
      zone ??= opts.zoneOf?.(server) ?? (rotated.length > 0 ? await remoteZone(c, spec, url.host) : 'UTC');
      for (const path of rotated) listing.files.push(remoteFile(c, server, path, trust, opts.compress, batch, mover, zone));
      return listing;
    },
    close() {
      conn?.close();
      conn = null;
      return Promise.resolve();
    },
  };
}

/**
 * What says a host's zone, as the C library reads it: `$TZ` (of the SSH session), /etc/timezone
 * (Debian's name for it), the target of the /etc/localtime link, and whether /etc/localtime exists
 * at all (without it the C library keeps UTC). One `key=value` line each.
 */
export const REMOTE_ZONE_SCRIPT = [
  'printf "TZ=%s\\n" "${TZ-}"',
  'if [ -r /etc/timezone ]; then printf "TIMEZONE=%s\\n" "$(head -c 256 /etc/timezone)"; fi',
  'if [ -L /etc/localtime ]; then printf "LINK=%s\\n" "$(readlink /etc/localtime)"; fi',
  'if [ -e /etc/localtime ]; then echo LOCALTIME=1; fi',
].join('\n');

/**
 * The zone name a host's answers give (REMOTE_ZONE_SCRIPT), or null when they do not name one (an
 * /etc/localtime that is a copy, not a link, and no /etc/timezone).
 */
export function zoneFromHost(out: string): string | null {
  const v = new Map<string, string>();
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) v.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const fromPath = (p: string) => /(?:^|\/)zoneinfo\/(?:posix\/|right\/)?(.+)$/.exec(p)?.[1] ?? null;
  const tz = (v.get('TZ') ?? '').replace(/^:/, '');
  if (tz !== '') return tz.startsWith('/') ? fromPath(tz) : tz;
  const named = (v.get('TIMEZONE') ?? '').split('\n')[0]?.trim() ?? '';
  if (named !== '') return named;
  const link = v.get('LINK');
  if (link !== undefined && link !== '') return fromPath(link);
  return v.has('LOCALTIME') ? null : 'UTC';
}

/** Asks a host for its zone (REMOTE_ZONE_SCRIPT) and checks it is one ICU knows. */
async function remoteZone(c: SshConnection, spec: string, host: string): Promise<string> {
  const r = await c.exec(['sh', '-c', REMOTE_ZONE_SCRIPT], { timeoutMs: LIST_TIMEOUT_MS });
  const name = r.code === 0 ? zoneFromHost(r.stdout.toString('utf8')) : null;
  if (name === null) {
    throw new UserError(
      'E_TZ',
      `${spec}: cannot tell the time zone of ${host} (no TZ, /etc/timezone or /etc/localtime link): give --tz ${host}=ZONE`,
    );
  }
  return timeZone(name, `${spec}: the zone of ${host},`).name;
}

/** Reads the header line a remote command (`what`, for the error) writes before the file's bytes; the rest stays in the stream. */
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
      if (buf.length > max) throw new UserError('E_READ', `${what} sent no header line`);
      continue;
    }
    if (stream.readableEnded || stream.destroyed) throw new UserError('E_READ', `${what} ended without a header line`);
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

/** Reads a byte stream in pieces: up to a delimiter, or exactly n bytes. */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async fill(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done === true) return false;
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    return true;
  }

  /** The bytes before the next `byte` (which is consumed), or null at the very end of the stream. */
  async until(byte: number, max: number): Promise<Buffer | null> {
    for (let from = 0; ;) {
      const at = this.buf.indexOf(byte, from);
      if (at >= 0) {
        const out = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + 1);
        return out;
      }
      if (this.buf.length > max) throw new Error(`no delimiter within ${max} bytes`);
      from = this.buf.length;
      if (!(await this.fill())) {
        if (this.buf.length === 0) return null;
        throw new Error('the stream ended inside a record');
      }
    }
  }

  /** Exactly `n` bytes, in the pieces they came in. */
  async *take(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw new Error(`the stream ended ${n} bytes before the end of the file`);
      const piece = this.buf.subarray(0, Math.min(n, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      n -= piece.length;
      yield piece;
    }
  }
}

interface Frame {
  header: string;
  /** For an OK header: exactly the file's bytes. Destroying it discards the rest. */
  body: Readable | null;
}

/**
 * One remote command opens, checks, hashes and streams every listed file in listing order (see
 * OPEN_BATCH_SCRIPT); ship takes them in that order, one at a time. While the store loads one
 * file the remote side already hashes the next ones, as far as the channel's window lets it.
 * A file asked for out of order, or after the batch broke, gets null: it is opened on its own.
 */
class RemoteOpenBatch {
  private reader: Promise<ByteReader> | null = null;
  private next = 0;
  /** The previous frame's body: the next frame starts once it is read or discarded. */
  private previous: Promise<void> = Promise.resolve();
  private isBroken = false;

  constructor(
    private readonly c: SshConnection,
    private readonly server: string,
    private readonly paths: readonly string[],
    private readonly trust: TrustOptions,
    private readonly compress: boolean,
  ) {}

  async open(path: string): Promise<Frame | null> {
    const index = this.paths.indexOf(path, this.next);
    if (this.isBroken || index < 0) return null;
    const what = `${this.server}: opening ${this.paths.length} file(s)`;
    this.reader ??= this.c
      .streamCommand(openBatchCommand(this.trust.owner ?? '', this.trust.minAgeSeconds, this.compress), what, {
        stdin: nulList(this.paths),
        gunzip: this.compress,
        timeoutMs: REMOTE_OPEN_TIMEOUT_MS,
      })
      .then((out) => new ByteReader(out));
    try {
      await this.previous;
      const reader = await this.reader;
      // Files not asked for (ship stopped early on this source) are passed over.
      while (this.next <= index) {
        const at = this.next++;
        const expected = this.paths[at] ?? '';
        const name = await reader.until(0, 64 * 1024);
        const header = await reader.until(10, 512);
        if (name === null || header === null) throw new Error(`the remote command ended before ${expected}`);
        const got = name.toString('utf8');
        if (got !== expected) throw new Error(`the remote command answered for ${got} instead of ${expected}`);
        const text = header.toString('utf8');
        const ok = /^OK [0-9a-f]{64} (\d+) /.exec(text);
        const size = ok ? Number(ok[1]) : 0;
        if (at < index) {
          for await (const piece of reader.take(size)) void piece;
          continue;
        }
        if (!ok) return { header: text, body: null };
        const body = new PassThrough();
        this.previous = this.pump(reader, size, body);
        return { header: text, body };
      }
      return null;
    } catch (err) {
      this.isBroken = true;
      throw new UserError('E_READ', errorMessage(err), { cause: err });
    }
  }

  /** Copies the frame's bytes into `body`; once `body` is closed, reads past what is left. */
  private async pump(reader: ByteReader, size: number, body: PassThrough): Promise<void> {
    try {
      for await (const piece of reader.take(size)) {
        if (body.destroyed) continue;
        if (!body.write(piece)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              body.off('drain', done).off('close', done);
              resolve();
            };
            body.on('drain', done).on('close', done);
          });
        }
      }
      body.end();
    } catch (err) {
      this.isBroken = true;
      body.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** How many moves go in one remote command; fewer when ship pauses (see RemoteMoveBatch). */
const MOVE_BATCH_MAX = 2000;
/** A move waits this long for others to join it once ship stops adding to the queue. */
const MOVE_BATCH_IDLE_MS = 50;

/**
 * Moves files in batches (MOVE_BATCH_SCRIPT): each committed file joins the queue, which goes out
 * when it is full or ship has added nothing for a moment (a long load, the end of the source).
 * One batch runs at a time.
 */
class RemoteMoveBatch {
  private queue: { path: string; identity: string; target: string; resolve: (p: string) => void; reject: (e: Error) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly c: SshConnection,
    private readonly server: string,
  ) {}

  move(path: string, identity: string, target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ path, identity, target, resolve, reject });
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      if (this.queue.length >= MOVE_BATCH_MAX) this.flush();
      else this.timer = setTimeout(() => this.flush(), MOVE_BATCH_IDLE_MS);
    });
  }

  private flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const items = this.queue;
    this.queue = [];
    this.running = this.running.then(async () => {
      const byTarget = new Map<string, typeof items>();
      for (const it of items) byTarget.set(it.target, [...(byTarget.get(it.target) ?? []), it]);
      for (const [target, group] of byTarget) await this.run(target, group);
    });
  }

  private async run(target: string, group: RemoteMoveBatch['queue']): Promise<void> {
    const fail = (it: RemoteMoveBatch['queue'][number], why: string) =>
      it.reject(new UserError('E_MOVE', `${this.server}: cannot move ${it.path} to ${target}: ${why}`));
    let r;
    try {
      r = await this.c.exec(moveBatchCommand(target), {
        stdin: nulList(group.map((it) => `${it.identity} ${it.path}`)),
        timeoutMs: LIST_TIMEOUT_MS,
      });
    } catch (err) {
      for (const it of group) fail(it, errorMessage(err));
      return;
    }
    const byPath = new Map(group.map((it) => [it.path, it]));
    const fields = r.stdout.toString('utf8').split('\0');
    /** Answers wait for the S that says their directories are synced. */
    let unsynced: { it: (typeof group)[number]; settle: () => void }[] = [];
    for (let i = 0; i < fields.length;) {
      const kind = fields[i];
      if (kind === 'S') {
        for (const u of unsynced) u.settle();
        unsynced = [];
        i += 1;
        continue;
      }
      const it = byPath.get(fields[i + 1] ?? '');
      const value = fields[i + 2] ?? '';
      i += 3;
      if (it === undefined || (kind !== 'M' && kind !== 'F')) continue;
      byPath.delete(it.path);
      if (kind === 'M') unsynced.push({ it, settle: () => it.resolve(value) });
      else
        unsynced.push({
          it,
          settle: () =>
            fail(it, value === 'mv failed' && r.stderr.length > 0 ? `${value}: ${r.stderr.toString().trim().split('\n')[0] ?? ''}` : value),
        });
    }
    const why = r.stderr.toString().trim() || `exit ${r.code}`;
    // Moved but never synced: whether the rename reached the disk is unknown; the next run finds out.
    for (const u of unsynced) fail(u.it, `the remote command ended before syncing the moves (${why})`);
    for (const it of byPath.values()) fail(it, why);
  }
}

function remoteFile(
  c: SshConnection,
  server: string,
  path: string,
  trust: TrustOptions,
  compress: boolean,
  batch: RemoteOpenBatch,
  mover: RemoteMoveBatch,
  zone: string,
): LogFile {
  let identity: string | null = null;
  const file: LogFile = {
    server,
    path,
    size: 0,
    mtimeMs: 0,
    zone,
    async open(): Promise<OpenOutcome> {
      const frame = await batch.open(path);
      if (frame !== null) return outcome(frame.header, frame.body, null);
      const isCompressed = compress && !isGzipName(path);
      const argv = ['sh', '-c', OPEN_SCRIPT, 'sh', path, trust.owner ?? '', String(trust.minAgeSeconds), isCompressed ? '1' : '0'];
      const out = await c.streamCommand(argv, path, { timeoutMs: REMOTE_OPEN_TIMEOUT_MS });
      let header: string;
      try {
        header = await readHeaderLine(out, 'the remote open command');
      } catch (err) {
        out.destroy();
        throw err;
      }
      return outcome(header, out, isCompressed ? createGunzip() : null);
    },
    async moveTo(dir: string) {
      if (identity === null) throw new UserError('E_MOVE', 'not moved: it was never opened');
      const target = posix.normalize(dir.startsWith('/') ? dir : posix.join(posix.dirname(path), dir)).replace(/(.)\/$/, '$1');
      return mover.move(path, identity, target);
    },
  };
  /** `out` holds the file's bytes after the header (gzip'ed when `gunzip` is given). */
  function outcome(header: string, out: Readable | null, gunzip: Transform | null): OpenOutcome {
    const refused = /^REFUSED (.*)$/.exec(header);
    const young = /^YOUNG (-?\d+)$/.exec(header);
    const error = /^ERROR (.*)$/.exec(header);
    const ok = /^OK ([0-9a-f]{64}) (\d+) (\d+) (\d+ \d+)$/.exec(header);
    if (!ok || out === null) out?.destroy();
    if (refused) return { kind: 'refused', reason: refused[1] ?? '' };
    if (young) return { kind: 'young', ageSeconds: Math.max(0, Number(young[1])) };
    if (error) throw new UserError('E_READ', `cannot open: ${error[1] ?? ''}`);
    if (!ok || out === null)
      throw new UserError('E_READ', `unexpected answer from the remote host: ${JSON.stringify(header.slice(0, 100))}`);
    const body = out;
    identity = ok[4] ?? null;
    file.size = Number(ok[2]);
    file.mtimeMs = Number(ok[3]) * 1000;
    return {
      kind: 'open',
      log: {
        sha256: ok[1] ?? '',
        size: Number(ok[2]),
        raw() {
          if (gunzip === null) return body;
          body.on('error', (err) => gunzip.destroy(err));
          return body.pipe(gunzip);
        },
        close: () => void body.destroy(),
      },
    };
  }
  return file;
}
