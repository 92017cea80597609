/**
 * SOA serial numbers compared with RFC 1982 serial number arithmetic (SERIAL_BITS = 32), as RFC
 * 1996 §4 asks of a secondary deciding whether its copy of a zone is current. Pure.
 */

const HALF = 2 ** 31;
const SPACE = 2 ** 32;

/**
 * -1 when `a` is older than `b`, 1 when newer, 0 when equal, null when RFC 1982 leaves the pair
 * undefined (exactly 2^31 apart). 4294967295 is older than 0: the serial wrapped.
 */
export function compareSerial(a: number, b: number): -1 | 0 | 1 | null {
  if (a === b) return 0;
  const forward = (b - a + SPACE) % SPACE; // how far b is ahead of a, going up
  if (forward === HALF) return null;
  return forward < HALF ? -1 : 1;
}

export type NewestSerial = { isOrdered: true; newest: number } | { isOrdered: false };

/**
 * The serial that every other one is older than (or equal to). RFC 1982 is no total order: serials
 * 2^31 apart, or spread around the circle, have no newest one (`isOrdered: false`).
 */
export function newestSerial(serials: readonly number[]): NewestSerial {
  const distinct = [...new Set(serials)];
  if (distinct.length === 0) return { isOrdered: false };
  for (const s of distinct) {
    if (distinct.every((t) => compareSerial(t, s) !== 1 && compareSerial(t, s) !== null)) return { isOrdered: true, newest: s };
  }
  return { isOrdered: false };
}
