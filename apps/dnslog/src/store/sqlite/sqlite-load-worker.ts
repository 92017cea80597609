/**
 * The worker thread in which SqliteStore writes a file's rows (sqlite-load.ts): its own connection
 * to the database named in workerData.path, one reply per request, in order. `null` closes it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { SqliteFileWriter, failureReply, openSqlite, type LoadReply, type LoadRequest } from './sqlite-load.js';

const port = parentPort;
if (!port) throw new Error('sqlite-load-worker.js runs only as a worker thread');
const { path } = workerData as { path: string };

let db: Database.Database | null = null;
let writer: SqliteFileWriter | null = null;

port.on('message', (req: LoadRequest | null) => {
  if (req === null) {
    db?.close();
    port.close();
    return;
  }
  let reply: LoadReply;
  try {
    if (!writer) {
      const opened = openSqlite(path);
      try {
        writer = new SqliteFileWriter(opened);
      } catch (err) {
        opened.close();
        throw err;
      }
      db = opened;
    }
    reply = writer.apply(req);
  } catch (err) {
    reply = failureReply(err);
  }
  port.postMessage(reply);
});
