/** The messages between ship's thread and a lane's worker thread (lane-threads.ts, lane-worker.ts). */
import { errorMessage, isUserError } from '@toolbox/shared';
import type { FileLoad, FileMeta, ResumePoint } from '../store/store.js';

/** What the worker needs to parse a file's lines (parse-adapter.ts lineParserFor). */
export interface ParseContext {
  mtimeMs: number;
  zone?: string;
}

export type ToLaneWorker =
  | { t: 'load'; id: number; meta: FileMeta; parse: ParseContext; resume?: ResumePoint }
  | { t: 'bytes'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  /** The bytes could not be read, or hash to something else: the load must fail with this. */
  | { t: 'fail'; id: number; code: string | null; message: string }
  /** No more files: close the connection and end. */
  | { t: 'close' };

export type FromLaneWorker =
  /** A chunk was taken by the parser (flow control). */
  | { t: 'taken'; id: number }
  | { t: 'done'; id: number; load: FileLoad }
  | { t: 'failed'; id: number; code: string | null; message: string };

/** An error as it crosses the thread boundary: a UserError keeps its code. */
export function errorReply(err: unknown): { code: string | null; message: string } {
  return { code: isUserError(err) ? err.code : null, message: errorMessage(err) };
}
