/**
 * One counting semaphore for every app that runs work "at most n at once" (probes, log sources,
 * domains).
 */

/** Runs a task when a slot is free; the result (or error) is the task's. */
export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * A counting semaphore: at most `n` tasks at once, started in the order they were submitted. A
 * finishing task hands its slot straight to the next waiter: were the slot freed and retaken by the
 * waiter when it resumes, a caller arriving in between (a microtask later) would take it too, and
 * n + 1 would run.
 */
export function limiter(n: number): Limit {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`limiter: ${n} is not a positive integer`);
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => queue.push(resolve));
    try {
      return await task();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}
