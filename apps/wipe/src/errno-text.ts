/** errno codes as one line a user reads: the code, then what it means for a wipe. */

const ERRNO_TEXT: Record<string, string> = {
  EIO: 'I/O error (the device failed or disappeared)',
  ENOSPC: 'no space left',
  EROFS: 'read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENXIO: 'no such device (it disappeared)',
  ENODEV: 'no such device (it disappeared)',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EDQUOT: 'disk quota exceeded',
};

export function errText(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  return `${code ? `${code} ` : ''}${ERRNO_TEXT[code] ?? err.message}`;
}
