import type { SamplingParams } from '../types.ts';

/** Rewrites one row's logits in place (masked tokens become -Infinity). Composable as a list. */
export type LogitsProcessor = (logits: Float32Array) => void;

export function temperatureProcessor(temperature: number): LogitsProcessor {
  return (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i] /= temperature;
  };
}

/** Keeps the k largest logits (and any tied with the k-th, as transformers does). */
export function topKProcessor(k: number): LogitsProcessor {
  return (logits) => {
    if (k >= logits.length) return;
    const sorted = Float32Array.from(logits).sort(); // native numeric sort, ascending
    const threshold = sorted[sorted.length - k];
    for (let i = 0; i < logits.length; i++) if (logits[i] < threshold) logits[i] = -Infinity;
  };
}

/**
 * Nucleus sampling: keeps the smallest set of most probable tokens whose probability mass reaches p
 * (the token that crosses p is kept, so at least one token survives). Ties go to the lower id.
 *
 * Sorting the whole 150k vocabulary each step is slow in JS, and a flat distribution puts most of
 * it in the nucleus. So tokens are bucketed by probability: buckets above the one where the mass
 * crosses p are kept whole, and only the crossing bucket is refined (again by buckets, finally by
 * a sort), which gives exactly the order a full sort would.
 */
export function topPProcessor(p: number): LogitsProcessor {
  const NUM_BUCKETS = 1024;
  const bucketMass = new Float64Array(NUM_BUCKETS);
  return (logits) => {
    if (p >= 1) return;
    const probs = softmax(logits);
    const V = probs.length;
    const kept = new Uint8Array(V);
    // Candidates (token ids) and their bucket, compacted in place level by level.
    const ids = new Int32Array(V);
    const buckets = new Uint16Array(V);
    let n = 0;
    let hi = 0;
    for (let i = 0; i < V; i++) {
      if (probs[i] > 0) ids[n++] = i;
      if (probs[i] > hi) hi = probs[i];
    }
    let lo = 0;
    let mass = 0;
    let keptCount = 0;
    while (n > 2048 && hi > lo) {
      const scale = NUM_BUCKETS / (hi - lo);
      bucketMass.fill(0);
      for (let k = 0; k < n; k++) {
        const q = probs[ids[k]];
        const b = Math.min(NUM_BUCKETS - 1, ((q - lo) * scale) | 0);
        buckets[k] = b;
        bucketMass[b] += q;
      }
      let crossing = 0;
      let above = mass;
      for (let b = NUM_BUCKETS - 1; b >= 0; b--) {
        if (bucketMass[b] > 0 && above + bucketMass[b] >= p) {
          crossing = b;
          break;
        }
        above += bucketMass[b];
      }
      let m = 0;
      for (let k = 0; k < n; k++) {
        const i = ids[k];
        if (buckets[k] > crossing) {
          kept[i] = 1;
          keptCount++;
          mass += probs[i];
        } else if (buckets[k] === crossing) ids[m++] = i;
      }
      if (m === n) break; // all tied: nothing left to split
      n = m;
      lo += crossing / scale;
      hi = lo + 1 / scale;
    }
    const band = Array.from(ids.subarray(0, n)).sort((a, b) => probs[b] - probs[a] || a - b);
    for (const i of band) {
      if (keptCount > 0 && mass >= p) break;
      kept[i] = 1;
      keptCount++;
      mass += probs[i];
    }
    for (let i = 0; i < V; i++) if (!kept[i]) logits[i] = -Infinity;
  };
}

/** The processors a request's sampling parameters call for, in transformers' order. */
export function logitsProcessors(params: Pick<SamplingParams, 'temperature' | 'topK' | 'topP'>): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (params.temperature > 0 && params.temperature !== 1) list.push(temperatureProcessor(params.temperature));
  if (params.topK > 0) list.push(topKProcessor(params.topK));
  if (params.topP < 1) list.push(topPProcessor(params.topP));
  return list;
}

/** Softmax over the finite logits (-Infinity gives 0), in float64 for stable sums. */
export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = logits[i] === -Infinity ? 0 : Math.exp(logits[i] - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}
