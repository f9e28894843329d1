import { logSoftmaxRow } from '../calibrate/distributions.ts';
import { runWindow, type ProbeModel } from '../calibrate/probe-model.ts';
import type { EvalConfig } from './configs.ts';

export interface QualityResult {
  perplexity: number;
  /** Mean routed experts per token and layer. */
  expertsPerToken: number;
  scoredTokens: number;
}

/**
 * Perplexity and experts per token of each config over the same windows: within a window every
 * position but the first is scored (its next token predicted from all tokens before it in the
 * window). Configs run as batch rows of one graph run, `batchRows` at a time.
 */
export async function measureQuality(model: ProbeModel, windows: readonly number[][], configs: readonly EvalConfig[], batchRows = 4): Promise<QualityResult[]> {
  const { vocabSize: V, numLayers: L, numExperts: E } = model.arch;
  const nll = new Float64Array(configs.length);
  const experts = new Float64Array(configs.length);
  let scored = 0;
  let routed = 0;
  const logP = new Float64Array(V);
  for (const ids of windows) {
    const S = ids.length;
    for (let start = 0; start < configs.length; start += batchRows) {
      const chunk = configs.slice(start, start + batchRows);
      const run = await runWindow(model, ids, chunk.map((c) => c.routing));
      chunk.forEach((_, b) => {
        const c = start + b;
        for (let s = 0; s + 1 < S; s++) nll[c] -= logSoftmaxRow(run.logits, b * S + s, V, logP)[ids[s + 1]];
        const mask = run.expertMask.subarray(b * S * L * E, (b + 1) * S * L * E);
        for (const m of mask) experts[c] += m;
      });
    }
    scored += S - 1;
    routed += S * L;
  }
  return configs.map((_, c) => ({ perplexity: Math.exp(nll[c] / scored), expertsPerToken: experts[c] / routed, scoredTokens: scored }));
}
