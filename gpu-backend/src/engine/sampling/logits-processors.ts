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
 * Sorting all 150k vocabulary entries every step is slow in JS, so candidates are first cut at a
 * probability threshold: every excluded token is less probable than every candidate, so the sorted
 * candidates are an exact prefix of the full order. If their mass does not reach p, the threshold
 * is lowered and the cut retried.
 */
export function topPProcessor(p: number): LogitsProcessor {
  return (logits) => {
    if (p >= 1) return;
    const probs = softmax(logits);
    let maxProb = 0;
    for (let i = 0; i < probs.length; i++) if (probs[i] > maxProb) maxProb = probs[i];
    for (let threshold = maxProb / 64; ; threshold /= 256) {
      const cut = threshold < 1e-30 ? 0 : threshold;
      const candidates: number[] = [];
      for (let i = 0; i < probs.length; i++) if (probs[i] >= cut && probs[i] > 0) candidates.push(i);
      candidates.sort((a, b) => probs[b] - probs[a] || a - b);
      let mass = 0;
      let keep = 0;
      while (keep < candidates.length && (keep === 0 || mass < p)) mass += probs[candidates[keep++]];
      if (mass >= p || cut === 0) {
        const kept = new Uint8Array(logits.length);
        for (let j = 0; j < keep; j++) kept[candidates[j]] = 1;
        for (let i = 0; i < logits.length; i++) if (!kept[i]) logits[i] = -Infinity;
        return;
      }
    }
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
