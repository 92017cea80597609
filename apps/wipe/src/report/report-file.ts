/**
 * The --report file, kept valid at every moment: written before the first byte of a wipe, then
 * checkpointed (temp file, fsync, rename, fsync of the directory: writeFileDurable) after every pass
 * and at most every few seconds while one runs, and once more at the end. A `kill -9` or a power cut
 * leaves the last checkpoint, whose pass positions are bytes already flushed to the medium, so
 * `--resume` continues from there.
 */
import { writeFileDurable } from '@toolbox/shared/cli';
import type { WipeReport } from './report.js';

export const CHECKPOINT_EVERY_MS = 2_000;

export class ReportFile {
  private last = Number.NEGATIVE_INFINITY;
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  /** The first error of a checkpoint, if any: the run goes on, the final write says so. */
  failure: NodeJS.ErrnoException | null = null;

  constructor(
    readonly file: string,
    private readonly build: () => WipeReport,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly intervalMs = CHECKPOINT_EVERY_MS,
  ) {}

  /** Writes the report now (after any write in progress), or `report` when given; rejects when this write fails. */
  write(report?: WipeReport): Promise<void> {
    this.last = this.nowMs();
    const next = this.chain.then(() => writeFileDurable(this.file, `${JSON.stringify(report ?? this.build(), null, 2)}\n`));
    // later checkpoints go on after a failed one
    this.chain = next.catch((err: unknown) => {
      this.failure ??= err as NodeJS.ErrnoException;
    });
    return next;
  }

  /** A checkpoint when the last one is older than the interval; never two queued at once. */
  maybe(): void {
    if (this.queued || this.nowMs() - this.last < this.intervalMs) return;
    this.queued = true;
    void this.write()
      .catch(() => undefined)
      .finally(() => {
        this.queued = false;
      });
  }

  /** Waits for the checkpoints already started. */
  settled(): Promise<void> {
    return this.chain;
  }
}
