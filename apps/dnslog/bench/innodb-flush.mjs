// Waiting for InnoDB's page cleaner, shared by the benches: a timed step should not pay for the
// writes the step before it left in the buffer pool.

/**
 * Polls `readCounts()` (→ {dirty, total} buffer-pool pages) once a second until at most `fraction`
 * of the pages are dirty, or the count has stopped falling (`stallRounds` polls in a row within 2 %
 * of the one before; 0: never stop on that), or `maxSeconds` have passed. Resolves with how long it
 * waited and the last counts.
 */
export async function waitForInnodbFlush(readCounts, { fraction, maxSeconds, stallRounds = 0 }) {
  const t0 = performance.now();
  let last = Infinity;
  let still = 0;
  for (;;) {
    const { dirty, total } = await readCounts();
    still = dirty >= last * 0.98 ? still + 1 : 0;
    last = dirty;
    const seconds = (performance.now() - t0) / 1000;
    if (dirty <= total * fraction || (stallRounds > 0 && still >= stallRounds) || seconds > maxSeconds) return { seconds, dirty, total };
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The statement that reads the two counters: rows of (Variable_name, Value). */
export const INNODB_DIRTY_SQL =
  "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')";

/** {dirty, total} from [name, value] pairs as INNODB_DIRTY_SQL returns them. */
export function innodbCounts(pairs) {
  const v = Object.fromEntries(pairs.map(([k, x]) => [k, Number(x)]));
  return { dirty: v.Innodb_buffer_pool_pages_dirty, total: v.Innodb_buffer_pool_pages_total };
}
