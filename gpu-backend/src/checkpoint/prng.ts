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

/** A triangular stream: xorshift32 state (before its first step) and the affine map to values. */
export interface TriangularStream {
  state: number;
  k: number;
  mean: number;
}

/** Draws a stream's seed from `rng` (one call), for values of standard deviation `std` around `mean`. */
export function triangularStream(rng: () => number, std: number, mean = 0): TriangularStream {
  return { state: (Math.floor(rng() * 4294967296) | 1) >>> 0, k: std / TRIANGULAR_STD / 65536, mean };
}

/**
 * Writes `count` values of a stream into out[at..]; returns the state after them. Self-contained
 * (it runs in worker threads as source text, see worker-pool.ts).
 */
export function fillTriangular(out: Float32Array, at: number, count: number, state: number, k: number, mean: number): number {
  let x = state;
  const end = at + count;
  for (let i = at; i < end; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // (lo + hi) / 65536 - 1 is triangular on (-1, 1); (lo + hi - 65535) keeps it centred.
    out[i] = mean + k * ((x & 0xffff) + (x >>> 16) - 65535);
  }
  return x;
}

/** Fills `out` with zero-mean values of standard deviation `std` (plus `mean`), seeded from `rng`. */
export function fillRandom(out: Float32Array, rng: () => number, std: number, mean = 0): Float32Array {
  const s = triangularStream(rng, std, mean);
  fillTriangular(out, 0, out.length, s.state, s.k, s.mean);
  return out;
}

// xorshift32 is linear over GF(2)^32, so n steps are one 32x32 bit matrix (stored as the images
// of the 32 unit vectors). Powers of two are cached; a jump applies one per set bit of n. This is
// what lets a tensor's stream be cut into chunks that threads fill independently, byte-identical
// to one serial pass.
const xorshiftStep = (x: number): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
};
const applyMatrix = (m: Uint32Array, x: number): number => {
  let r = 0;
  for (let j = 0; x !== 0; j++, x >>>= 1) if (x & 1) r ^= m[j];
  return r >>> 0;
};
const POW2_STEPS: Uint32Array[] = [Uint32Array.from({ length: 32 }, (_, j) => xorshiftStep((1 << j) >>> 0))];
function pow2Steps(b: number): Uint32Array {
  while (POW2_STEPS.length <= b) {
    const m = POW2_STEPS[POW2_STEPS.length - 1];
    POW2_STEPS.push(m.map((col) => applyMatrix(m, col)));
  }
  return POW2_STEPS[b];
}

/** The xorshift32 state `steps` steps after `state`. */
export function xorshiftJump(state: number, steps: number): number {
  let x = state >>> 0;
  for (let b = 0; steps > 0; b++, steps = Math.floor(steps / 2)) if (steps % 2 === 1) x = applyMatrix(pow2Steps(b), x);
  return x;
}

/** One standard-normal sample (Box-Muller), for the few per-row scales. */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
