/**
 * A lane's worker thread (lane-threads.ts): its own MySQL store on the lane's database, which
 * parses and loads the files sent to it one at a time, from their bytes, exactly as ship does on
 * its own thread (file-lines.ts, the store's loadFile).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '@toolbox/shared';
import { lineParserFor } from '../parse/parse-adapter.js';
import { MysqlStore } from '../store/mysql/db-mysql.js';
import type { MysqlConnectSettings, MysqlStoreOptions } from '../store/mysql/settings.js';
import { after, parsedLines } from './file-lines.js';
import { errorReply, type FromLaneWorker, type ToLaneWorker } from './lane-protocol.js';

const port = parentPort;
if (!port) throw new Error('lane-worker.js runs only as a worker thread');
const { settings, options } = workerData as { settings: MysqlConnectSettings; options: MysqlStoreOptions };
const store = new MysqlStore(settings, undefined, options);
const reply = (m: FromLaneWorker) => port.postMessage(m);

/** The bytes of the file being loaded, as they arrive; each is acknowledged when the parser takes it. */
class Feed {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly id: number) {}

  push(chunk: Uint8Array): void {
    this.queue.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.poke();
  }

  end(failure: Error | null): void {
    this.ended = true;
    this.failure = failure;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        reply({ t: 'taken', id: this.id });
        yield chunk;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

let feed: Feed | null = null;

async function load(m: Extract<ToLaneWorker, { t: 'load' }>, f: Feed): Promise<void> {
  try {
    const lines = parsedLines(f.chunks(), lineParserFor(m.parse));
    const result = await store.loadFile(m.meta, m.resume ? after(lines, m.resume.doneLines) : lines, m.resume);
    reply({ t: 'done', id: m.id, load: result });
  } catch (err) {
    reply({ t: 'failed', id: m.id, ...errorReply(err) });
  } finally {
    if (feed === f) feed = null;
  }
}

port.on('message', (m: ToLaneWorker) => {
  switch (m.t) {
    case 'load':
      feed = new Feed(m.id);
      void load(m, feed);
      break;
    case 'bytes':
      if (feed?.id === m.id) feed.push(m.chunk);
      break;
    case 'end':
      if (feed?.id === m.id) feed.end(null);
      break;
    case 'fail':
      if (feed?.id === m.id) feed.end(m.code === null ? new Error(m.message) : new UserError(m.code, m.message));
      break;
    case 'close':
      void store.close().finally(() => port.close());
      break;
  }
});
