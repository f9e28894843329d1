/**
 * Seeded randomness for generated checkpoints. Each tensor gets its own stream derived from the
 * seed and its name, so values do not depend on generation order or sharding.
 */

/** FNV-1a, to turn a tensor name into 32 bits of seed. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: tiny, fast, and good enough for weights (not for cryptography). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function tensorRng(seed: number, name: string): () => number {
  return mulberry32(hashString(name, hashString(String(seed))));
}

// Triangular (sum of two uniforms) rather than Gaussian: bell-ish with bounded tails, and cheap:
// one inline xorshift step per value, its two 16-bit halves as the two uniforms. The benchmark
// checkpoint has 14B values, so a closure call per value would cost many minutes.
const TRIANGULAR_STD = Math.sqrt(1 / 6);

/** Fills `out` with zero-mean values of standard deviation `std` (plus `mean`), seeded from `rng`. */
export function fillRandom(out: Float32Array, rng: () => number, std: number, mean = 0): Float32Array {
  const k = std / TRIANGULAR_STD / 65536;
  let x = (Math.floor(rng() * 4294967296) | 1) >>> 0;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // (lo + hi) / 65536 - 1 is triangular on (-1, 1); (lo + hi - 65535) keeps it centred.
    out[i] = mean + k * ((x & 0xffff) + (x >>> 16) - 65535);
  }
  return out;
}
/** One standard-normal sample (Box-Muller), for the few per-row scales. */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
