/**
 * Ship's lane threads: for a store whose lanes are separate databases (a sharded store's backends,
 * store.threadTarget), each lane's files are parsed and loaded in a worker thread of its own
 * (lane-worker.ts), on its own connection, so that the lanes' parsing runs on several cores. This
 * thread still opens, hashes and gunzips each file and sends its bytes; a file whose bytes turn
 * out changed or unreadable is failed in the worker before its last commit. One file at a time
 * per lane (ship's lane mutex), a few chunks in flight at a time.
 */
import { Worker } from 'node:worker_threads';
import { UserError, errorMessage } from '@toolbox/shared';
import type { FileLoad, FileMeta, ResumePoint, ThreadLoadTarget } from '../store/store.js';
import { errorReply, type FromLaneWorker, type ParseContext, type ToLaneWorker } from './lane-protocol.js';

/** Chunks sent ahead of the parser: enough to keep it busy, few enough to bound memory (~256 KiB each). */
const MAX_IN_FLIGHT = 4;

/** Bytes gathered before they are sent: fewer, larger messages (a read is 64 KiB, a gunzipped chunk 16 KiB). */
const SEND_BYTES = 256 * 1024;

/** The chunks of `bytes` gathered into pieces of about SEND_BYTES. */
async function* gathered(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of bytes) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= SEND_BYTES) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/** Whether worker threads can run: not when this module runs from its TypeScript source (the unit tests). */
export const LANE_THREADS_AVAILABLE = !import.meta.url.endsWith('.ts');

function replyError(r: { code: string | null; message: string }): Error {
  return r.code === null ? new Error(r.message) : new UserError(r.code, r.message);
}

class LaneThread {
  private readonly worker: Worker;
  private gone: string | null = null;
  private nextId = 1;
  private current: {
    id: number;
    inFlight: number;
    wake: (() => void) | null;
    settled: boolean;
    resolve: (load: FileLoad) => void;
    reject: (err: Error) => void;
  } | null = null;

  constructor(target: ThreadLoadTarget) {
    this.worker = new Worker(new URL('./lane-worker.js', import.meta.url), {
      workerData: { settings: target.settings, options: target.options },
    });
    this.worker.on('message', (m: FromLaneWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(`the loading thread of lane ${target.lane} failed: ${errorMessage(err)}`));
    this.worker.on('exit', (code) => this.fail(`the loading thread of lane ${target.lane} exited (code ${code})`));
  }

  private onMessage(m: FromLaneWorker): void {
    const c = this.current;
    if (c === null || m.id !== c.id) return;
    if (m.t === 'taken') {
      c.inFlight--;
    } else {
      c.settled = true;
      if (m.t === 'done') c.resolve(m.load);
      else c.reject(replyError(m));
    }
    const wake = c.wake;
    c.wake = null;
    wake?.();
  }

  private fail(why: string): void {
    this.gone ??= why;
    const c = this.current;
    if (c !== null && !c.settled) {
      c.settled = true;
      c.reject(new Error(this.gone));
      c.wake?.();
    }
  }

  /** Parses and loads one file in the thread from `bytes`; what the store's loadFile would give or throw. */
  async load(meta: FileMeta, parse: ParseContext, resume: ResumePoint | undefined, bytes: AsyncIterable<Buffer>): Promise<FileLoad> {
    if (this.gone !== null) throw new Error(this.gone);
    const id = this.nextId++;
    const done = new Promise<FileLoad>((resolve, reject) => {
      this.current = { id, inFlight: 0, wake: null, settled: false, resolve, reject };
    });
    const c = this.current!;
    // Rejections are awaited below, after the bytes (or at once when the worker fails first).
    done.catch(() => undefined);
    this.post({ t: 'load', id, meta, parse, ...(resume ? { resume } : {}) });
    let readError: unknown = null;
    try {
      for await (const chunk of gathered(bytes)) {
        while (c.inFlight >= MAX_IN_FLIGHT && !c.settled) await new Promise<void>((r) => (c.wake = r));
        // The worker gave up (the database failed): no more bytes; leaving the loop closes the file.
        if (c.settled) break;
        c.inFlight++;
        this.post({ t: 'bytes', id, chunk });
      }
      this.post({ t: 'end', id });
    } catch (err) {
      readError = err;
      this.post({ t: 'fail', id, ...errorReply(err) });
    }
    try {
      return await done;
    } catch (err) {
      // The read error is the cause; the worker's answer to it only repeats it.
      throw readError ?? err;
    } finally {
      this.current = null;
    }
  }

  private post(m: ToLaneWorker): void {
    if (this.gone === null) this.worker.postMessage(m);
  }

  async close(): Promise<void> {
    if (this.gone !== null) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ t: 'close' } satisfies ToLaneWorker);
    await exited;
  }
}

/** One thread per lane, made at its first file; close() ends them all. */
export class LaneThreads {
  private readonly threads = new Map<string, LaneThread>();

  load(
    target: ThreadLoadTarget,
    meta: FileMeta,
    parse: ParseContext,
    resume: ResumePoint | undefined,
    bytes: AsyncIterable<Buffer>,
  ): Promise<FileLoad> {
    let t = this.threads.get(target.lane);
    if (t === undefined) this.threads.set(target.lane, (t = new LaneThread(target)));
    return t.load(meta, parse, resume, bytes);
  }

  /** Threads made so far. */
  get size(): number {
    return this.threads.size;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.threads.values()].map((t) => t.close()));
    this.threads.clear();
  }
}
