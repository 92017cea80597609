// A deterministic PRNG (mulberry32) for the benchmarks: every run generates the same data.
export function mulberry32(initialSeed) {
  let seed = initialSeed | 0;
  function rand() {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** The seed that makes a new generator repeat this one's numbers from here on. */
  rand.state = () => seed;
  return rand;
}
