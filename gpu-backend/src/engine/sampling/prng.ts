/** A uniform [0, 1) generator; one per sequence so a seed reproduces that sequence alone. */
export type Rng = () => number;

/**
 * mulberry32: 32-bit state, good enough statistically for sampling and tiny. Math.random cannot
 * be seeded, and a seeded request must give the same text whatever else shares its batch.
 */
export function createRng(seed?: number): Rng {
  let state = seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : foldSeed(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** OpenAI seeds are any integer; fold the high bits in so seeds 1 and 2^32+1 differ. */
function foldSeed(seed: number): number {
  const s = Math.trunc(seed);
  const low = s >>> 0;
  const high = Math.floor(s / 2 ** 32) >>> 0;
  return (low ^ Math.imul(high, 0x9e3779b1)) >>> 0;
}
