import type { GraphScope } from '../onnx/graph-builder.ts';
import type { RouterParams } from './params.ts';

/**
 * The Pick & Ban router kernel of one MoE layer: only elementwise ops, reductions and MatMul (no
 * TopK / CumSum / ScatterElements), no per-token loop, no host round trip. 20 nodes per layer,
 * 29 when the graph supports ban_and_pick.
 *
 *   logits [N,E] ─Softmax─> p ──┬──────────────────────────────────────────────┐
 *                               ├─ pj=[N,1,E], pi=[N,E,1]                       │
 *                               │  prec[n,i,j] = (pj − pi) > TIE[i,j]          │  j before i: p_j > p_i,
 *                               │      (Sub, Greater, Cast) ── [N,E,E]         │  or equal and j < i
 *   colBase[:,l] [N,E,5] ──Mul(Where(massCh, pi, 1))── cols [N,E,5]            │
 *                               │                                              │
 *            M = prec @ cols  [N,E,5]: nonkey rank, key rank, nonkey rank,     │
 *                               │      nonkey mass before, 0 (params.ts)       │
 *   thresholds[:,l] [N,E,5] ──(+ ban_and_pick's c·T' on channel 2)             │
 *                               │                                              │
 *   F = M < THR ─Where(F,[2,2,1,1,−4],0)─ReduceSum─Clip(0,1)─> selected [N,E]  │
 *                                                        │                     │
 *                                weights = p·selected / (renormalize ? Σ : 1) <┘
 *
 * The walks are prefix-monotone, so "taken while fewer than K are taken and the mass before it is
 * < τ" is the same as comparing each expert's rank and mass-before with the row's thresholds.
 *
 * ban_and_pick (only rows whose strategy is 4; zero for the rest):
 *   R = top-3 mass / top-K mass = (p @ [rank<3, rank<K]) ratio; T' = Clip(offset − scale·R, 0, 1);
 *   channel 2's threshold += c·T', so rank < x − ½ with x = K_min + c·W'_l + c·T' (+ ½ folded in).
 */
export interface RouterOutputs {
  /** float32 [N, E]: 1 where the expert is selected, else 0. */
  selected: string;
  /** float32 [N, E]: the gate weight of each selected expert, 0 where not selected. */
  weights: string;
  /** float32 [N, E]: softmax of the logits (the router probabilities). */
  probs: string;
}

export interface RouterOptions {
  /** Node-name prefix, e.g. `/model/layers.3/moe/router`. */
  prefix: string;
  layer: number;
  /** float32 [N, E] router logits of this layer. */
  logits: string;
  params: RouterParams;
}

/** TIE[i][j]: the bound p_j − p_i must exceed for j to come before i. For j < i that is "≥ 0",
 * written as > −2^-126 (the smallest normal, so GPUs that flush subnormals keep it): exact for
 * every p ≥ 2^-102; only experts below that (p < 2e-31) may order among themselves by id. */
function tieBounds(E: number): number[] {
  return Array.from({ length: E * E }, (_, k) => (k % E < Math.floor(k / E) ? -(2 ** -126) : 0));
}

export function makeRouter(g: GraphScope, opts: RouterOptions): RouterOutputs {
  const s = g.withPrefix(opts.prefix);
  const { params } = opts;
  const E = params.numExperts;
  const layer = g.constI64(opts.layer);
  const unsq = (x: string, axis: number, name: string) => s.node('Unsqueeze', [x, g.constI64([axis])], undefined, { name });

  const p = s.node('Softmax', [opts.logits], { axis: -1 });
  const pj = unsq(p, 1, 'p_j');
  const pi = unsq(p, 2, 'p_i');
  const before = s.node('Greater', [s.node('Sub', [pj, pi]), g.constF32(tieBounds(E), [E, E])]);
  const prec = s.node('Cast', [before], { to: 1 }, { name: 'Precedence' });

  const massWeights = s.node('Where', [params.massChannels, pi, g.constF32(1)]);
  const cols = s.node('Mul', [s.node('Gather', [params.colBase, layer], { axis: 1 }, { name: 'ColBase' }), massWeights]);
  const ranks = s.node('MatMul', [prec, cols], undefined, { name: 'RanksAndMass' });
  let thresholds = s.node('Gather', [params.thresholds, layer], { axis: 1 }, { name: 'Thresholds' });
  if (params.withBanAndPick) thresholds = s.node('Add', [thresholds, banAndPickShift(s.withPrefix('ban_and_pick'), g, ranks, pj, params)]);

  // Weighted vote 2·F0 + 2·F1 + F2 + F3 − 4·F4 (F4 always holds): ≥ 1 exactly when F0 ∧ F1 ∧ (F2 ∨ F3).
  // Where + ReduceSum rather than MatMul by a [5] vector: ORT's CPU MatMul takes a slow per-row path there.
  const votes = s.node('Where', [s.node('Less', [ranks, thresholds]), g.constF32([2, 2, 1, 1, -4]), g.constF32(0)], undefined, { name: 'Votes' });
  const score = s.node('ReduceSum', [votes, g.constI64([-1])], { keepdims: 0 }, { name: 'Combine' });
  const selected = s.node('Clip', [score, g.constF32(0), g.constF32(1)], undefined, { name: 'Selected' });

  const raw = s.node('Mul', [p, selected]);
  const sum = s.node('ReduceSum', [raw, g.constI64([1])], { keepdims: 1 });
  // An empty selection (pick, λ = 0, no key expert in this layer) must give zeros, not 0/0.
  const denom = s.node('Where', [params.renormalize, s.node('Max', [sum, g.constF32(1e-30)]), g.constF32(1)]);
  const weights = s.node('Div', [raw, denom], undefined, { name: 'Weights' });
  return { selected, weights, probs: p };
}

/** [N, 1, 5], c·T' on channel 2 for ban_and_pick rows, 0 elsewhere. */
function banAndPickShift(s: GraphScope, g: GraphScope, ranks: string, pj: string, params: RouterParams): string {
  // For ban_and_pick rows channels 2 and 3 of `ranks` are the plain rank.
  const inTop = s.node('Less', [ranks, params.rankBounds!]); // [rank < 3, rank < K] on channels 2, 3
  const weighted = s.node('Where', [inTop, params.rWeights!, g.constF32(0)]); // −scale on 2, 1 on 3
  const masses = s.node('MatMul', [pj, weighted], undefined, { name: 'TopMasses' }); // [N,1,5]: −scale·top3, topK
  const topK = s.node('Gather', [masses, g.constI64([3])], { axis: 2 }, { name: 'TopKMass' });
  const scaledR = s.node('Div', [masses, topK]);
  const tPrime = s.node('Clip', [s.node('Add', [scaledR, params.tOffset!]), g.constF32(0), g.constF32(1)], undefined, { name: 'TPrime' });
  return s.node('Mul', [tPrime, params.kSlope!], undefined, { name: 'Shift' });
}
