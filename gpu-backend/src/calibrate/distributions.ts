/** Row-wise numerics over [rows, V] logits, in float64 accumulators. */

/** log softmax of row `r` of a [rows, V] matrix. */
export function logSoftmaxRow(logits: Float32Array, r: number, V: number, out = new Float64Array(V)): Float64Array {
  const base = r * V;
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[base + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v] - max);
  const logZ = max + Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = logits[base + v] - logZ;
  return out;
}

/** KL(P || Q) from log-probabilities over the full vocabulary. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let v = 0; v < logP.length; v++) kl += Math.exp(logP[v]) * (logP[v] - logQ[v]);
  return Math.max(0, kl);
}

/**
 * R = (sum of the top-3 probabilities) / (sum of the top-K), the paper's token-sensitivity ratio,
 * for one token's router probabilities p[offset .. offset+E).
 */
export function topMassRatio(p: Float32Array, offset: number, E: number, K: number): number {
  const sorted = Array.from(p.subarray(offset, offset + E)).sort((a, b) => b - a);
  let top3 = 0;
  let topK = 0;
  for (let i = 0; i < K; i++) {
    if (i < 3) top3 += sorted[i];
    topK += sorted[i];
  }
  return topK > 0 ? top3 / topK : 1;
}

/** Min-max normalisation to [0, 1]; all-equal inputs map to 1 (no layer stands out as less sensitive). */
export function minMaxNormalise(values: readonly number[]): number[] {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return values.map((v) => (max - min > 0 ? (v - min) / (max - min) : 1));
}
