/**
 * Deterministic per-genre split: within each genre, documents sorted by id are spread evenly over
 * test, validation and training, so every genre (even science_fiction's 6 texts) has held-out text.
 */
export type SplitName = 'train' | 'val' | 'test';

export interface SplitOptions {
  testFraction: number;
  valFraction: number;
}

/** Indices (into a sorted list of `count` items) picked evenly: `n` of them, offset so test and val differ. */
function evenlySpaced(count: number, n: number, phase: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.min(count - 1, Math.floor(((i + phase) * count) / n)));
}

export function splitIds(ids: readonly string[], { testFraction, valFraction }: SplitOptions): Map<string, SplitName> {
  const sorted = [...ids].sort();
  const count = sorted.length;
  const nTest = Math.max(1, Math.round(count * testFraction));
  const nVal = count - nTest >= 3 ? Math.max(1, Math.round(count * valFraction)) : 0;
  const result = new Map<string, SplitName>(sorted.map((id) => [id, 'train']));
  for (const i of evenlySpaced(count, nTest, 0.5)) result.set(sorted[i], 'test');
  // Validation takes the next still-unused training document after each evenly spaced slot.
  for (const start of evenlySpaced(count, nVal, 0.25)) {
    for (let k = 0; k < count; k++) {
      const id = sorted[(start + k) % count];
      if (result.get(id) === 'train') {
        result.set(id, 'val');
        break;
      }
    }
  }
  return result;
}
