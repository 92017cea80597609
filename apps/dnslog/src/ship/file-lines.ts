/**
 * A shipped file's bytes as parsed lines (rows and rejects), on ship's own thread or in a lane's
 * worker thread (lane-worker.ts): the bytes themselves are read and checked by ship.ts.
 */
import { readLineBatches, type RawLine } from '../parse/line-reader.js';
import type { ParsedLine } from '../store/store.js';

/** The lines of `bytes`, parsed, a batch per chunk. */
export async function* parsedLines(bytes: AsyncIterable<Buffer>, parse: (raw: RawLine) => ParsedLine): AsyncGenerator<ParsedLine[]> {
  for await (const batch of readLineBatches(bytes)) yield batch.map(parse);
}

/** The batches without the lines up to `doneLines` (committed by an earlier run). */
export async function* after(batches: AsyncIterable<ParsedLine[]>, doneLines: number): AsyncGenerator<ParsedLine[]> {
  for await (const batch of batches) {
    const last = batch[batch.length - 1];
    if (last === undefined || last.lineNo <= doneLines) continue;
    yield batch[0] !== undefined && batch[0].lineNo > doneLines ? batch : batch.filter((l) => l.lineNo > doneLines);
  }
}
