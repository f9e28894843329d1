import type { RoutingProfile } from '../../../shared/routing/resolve.ts';
import type { RowRouting } from '../testing/route-feeds.ts';
import { logSoftmaxRow, minMaxNormalise, topMassRatio } from './distributions.ts';
import { runWindow, type ProbeModel } from './probe-model.ts';

/**
 * Calibration of a routing profile following Ban&Pick (arXiv 2509.06346), measured on the ONNX
 * graph itself:
 *
 *   1. top_k over the text       -> activation frequency f[l][e], R = top-3 / top-K mass per token and layer
 *   2. per layer, the M most frequent experts are candidates; for each, the text again with that
 *      expert removed from routing  -> mean KL(P_top_k || P_removed) over all positions
 *   3. per layer, the layer alone cut from K to K_min experts -> mean KL; W' = min-max normalised
 *   4. key experts of a layer = its N candidates with the largest KL
 *
 * The graph has no "exclude expert e" strategy, so removal is `pick` with every expert of every
 * layer as a key expert except e in layer l: pick takes the K most probable keys, which is top_k
 * without e (gate weights stay p, as in top_k). The layer cut is `ban_and_pick` with λ = 1, a
 * degenerate R range (T' = 1) and W' = 1 everywhere except −1 at layer l, so
 * K_{i,l} = K_min + (K − K_min)·(W' + 1)/2 is K on every other layer and K_min on l.
 */

export interface CalibrateOptions {
  name: string;
  /** Key experts kept per layer. */
  keyExperts: number;
  /** High-frequency candidates per layer whose removal is measured. */
  candidates: number;
  /** K_min for the layer-sensitivity cut (default 1). */
  kMin?: number;
  /** Routing rows per graph run (they share the window). */
  batchRows?: number;
  description?: string;
  source?: Record<string, unknown>;
  onProgress?: (message: string) => void;
}

interface Variant {
  kind: 'remove' | 'cut';
  layer: number;
  expert?: number;
  routing: RowRouting;
  klSum: number;
}

export async function calibrateProfile(model: ProbeModel, windows: readonly number[][], opts: CalibrateOptions): Promise<RoutingProfile> {
  const { numLayers: L, numExperts: E, vocabSize: V, numExpertsPerTok: K, normTopkProb } = model.arch;
  const kMin = opts.kMin ?? 1;
  const supported = model.manifest.routing.strategies;
  for (const s of ['pick', 'ban_and_pick'] as const) if (!supported.includes(s)) throw new Error(`calibration needs the '${s}' strategy; this graph supports ${supported.join(', ')}`);
  if (opts.keyExperts > opts.candidates || opts.candidates > E) throw new Error(`need key experts (${opts.keyExperts}) <= candidates (${opts.candidates}) <= experts (${E})`);
  if (kMin < 1 || kMin >= K) throw new Error(`K_min must be between 1 and K - 1 (${K - 1}), got ${kMin}`);
  const log = opts.onProgress ?? (() => {});
  const baseRouting: RowRouting = { strategy: 'top_k', topK: K, renormalize: normTopkProb };

  // 1. Baseline: frequencies, R, and the reference distributions the variants are compared with.
  const counts = Array.from({ length: L }, () => new Float64Array(E));
  const ratios: number[] = [];
  const base: { probs: Float32Array; negEntropy: Float64Array }[] = [];
  let tokens = 0;
  const logP = new Float64Array(V);
  for (const ids of windows) {
    const run = await runWindow(model, ids, [baseRouting]);
    const S = ids.length;
    const probs = new Float32Array(S * V);
    const negEntropy = new Float64Array(S);
    for (let s = 0; s < S; s++) {
      logSoftmaxRow(run.logits, s, V, logP);
      let h = 0;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(logP[v]);
        probs[s * V + v] = p;
        h += p * logP[v];
      }
      negEntropy[s] = h;
      for (let l = 0; l < L; l++) {
        for (let e = 0; e < E; e++) counts[l][e] += run.expertMask[(s * L + l) * E + e];
        ratios.push(topMassRatio(run.probs[l], s * E, E, K));
      }
    }
    base.push({ probs, negEntropy });
    tokens += S;
  }
  const frequency = counts.map((c) => Array.from(c, (n) => n / tokens));
  log(`baseline: ${tokens} tokens in ${windows.length} windows`);

  // 2 + 3. Removal of each candidate, and each layer cut to K_min.
  const allExperts = [...Array(E).keys()];
  const candidates = frequency.map((f) => [...allExperts].sort((a, b) => f[b] - f[a] || a - b).slice(0, opts.candidates));
  const variants: Variant[] = [];
  for (let l = 0; l < L; l++) {
    for (const e of candidates[l]) {
      const keyExperts = Object.fromEntries(Array.from({ length: L }, (_, k) => [k, k === l ? allExperts.filter((x) => x !== e) : allExperts]));
      variants.push({ kind: 'remove', layer: l, expert: e, klSum: 0, routing: { strategy: 'pick', topK: K, lambda: 1, renormalize: normTopkProb, keyExperts } });
    }
    const layerSensitivity = Array.from({ length: L }, (_, k) => (k === l ? -1 : 1));
    variants.push({ kind: 'cut', layer: l, klSum: 0, routing: { strategy: 'ban_and_pick', topK: K, lambda: 1, minExperts: kMin, renormalize: normTopkProb, layerSensitivity, rRange: [0, 0] } });
  }
  const batch = opts.batchRows ?? 4;
  const logQRow = new Float64Array(V);
  for (const [w, ids] of windows.entries()) {
    const S = ids.length;
    for (let start = 0; start < variants.length; start += batch) {
      const chunk = variants.slice(start, start + batch);
      const run = await runWindow(model, ids, chunk.map((v) => v.routing));
      chunk.forEach((variant, b) => {
        for (let s = 0; s < S; s++) {
          // KL(P || Q) = Σ P log P − Σ P log Q, with the first sum precomputed per position.
          logSoftmaxRow(run.logits, b * S + s, V, logQRow);
          let cross = 0;
          const p = base[w].probs;
          for (let v = 0; v < V; v++) cross += p[s * V + v] * logQRow[v];
          variant.klSum += Math.max(0, base[w].negEntropy[s] - cross);
        }
      });
    }
    log(`variants: window ${w + 1}/${windows.length}`);
  }

  const kl = (v: Variant) => v.klSum / tokens;
  const removal = Array.from({ length: L }, (_, l) => variants.filter((v) => v.kind === 'remove' && v.layer === l).map((v) => ({ expert: v.expert!, kl: kl(v) })));
  const layerKl = Array.from({ length: L }, (_, l) => kl(variants.find((v) => v.kind === 'cut' && v.layer === l)!));
  const keyExperts: Record<string, number[]> = {};
  removal.forEach((impacts, l) => {
    keyExperts[String(l)] = [...impacts].sort((a, b) => b.kl - a.kl || a.expert - b.expert).slice(0, opts.keyExperts).map((i) => i.expert).sort((a, b) => a - b);
  });
  const sortedR = [...ratios].sort((a, b) => a - b);
  const quantile = (q: number) => sortedR[Math.min(sortedR.length - 1, Math.floor(q * sortedR.length))];

  return {
    name: opts.name,
    description: opts.description ?? `Calibrated key experts, layer sensitivity and R range from ${tokens} tokens (npm run calibrate).`,
    key_experts: keyExperts,
    layer_sensitivity: minMaxNormalise(layerKl),
    r_min: sortedR[0],
    r_max: sortedR[sortedR.length - 1],
    calibration: {
      method: 'arXiv 2509.06346: frequency -> candidates -> removal KL (full vocabulary) -> key experts; layer cut K -> K_min KL -> W\'',
      tokens,
      windows: windows.length,
      top_k: K,
      k_min: kMin,
      candidates_per_layer: opts.candidates,
      key_experts_per_layer: opts.keyExperts,
      activation_frequency: frequency.map((f) => f.map(round6)),
      removal_kl: removal.map((impacts) => impacts.map((i) => ({ expert: i.expert, kl: round6(i.kl) }))),
      layer_cut_kl: layerKl.map(round6),
      r_quantiles: { p01: round6(quantile(0.01)), p50: round6(quantile(0.5)), p99: round6(quantile(0.99)) },
      ...(opts.source ? { source: opts.source } : {}),
    },
  };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
