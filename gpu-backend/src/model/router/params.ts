import { ROUTING_STRATEGIES, strategyCode, type RoutingStrategy } from '../../../../shared/routing/schema.ts';
import { GRAPH_INPUTS } from '../contract.ts';
import type { GraphScope } from '../onnx/graph-builder.ts';
import { DEGENERATE_R_RANGE } from './reference.ts';

/**
 * Declares the route_* graph inputs and compiles them ONCE per graph into per-token tensors, so
 * each layer's kernel (kernel.ts) only gathers its layer slice and compares. Every condition of
 * every strategy becomes "M[c] < THR[c]" on five channels, where M = prec · COLS (kernel.ts):
 *
 *   channel  COLS (per expert j)        THR, non-ban_and_pick rows          ban_and_pick rows
 *   0        nonKey                     nonKey ? K − nKey : BIG             col 0, THR BIG
 *   1        key                        key ? K : BIG                       col 0, THR BIG
 *   2        nonKey                     nonKey ? mRule − nKey : BIG         col 1 (rank), THR x − ½ (dynamic)
 *   3        nonKey · p                 nonKey ? massThreshold : BIG        col 1 (rank), THR key ? 2K : 0
 *   4        0                          1 (always true: the bias)           same
 *
 *   selected = F0 ∧ F1 ∧ (F2 ∨ F3)   (Clip(2F0 + 2F1 + F2 + F3 − 4·F4, 0, 1))
 *
 * "key" here is the key-first mask: the layer's key experts for pick / pick_and_ban rows, none for
 * the others (so top_k and ban ignore a key mask). nKey = #keys of the layer (uncapped: with more
 * than K keys every non-key fails channel 0 anyway). mRule: top_k K, pick 0, ban / pick_and_ban m.
 * massThreshold: pick λ, ban / pick_and_ban τ, top_k 0 (unused: channel 2 always holds).
 */
export const BIG = 1e6;

export interface RouterParamsOptions {
  /**
   * A [B, S, ...] tensor whose shape fixes B and S (tokens are N = B·S rows): input_ids, or in the
   * model graph the embedded tokens, so that no CPU node reads input_ids (a GPU step can take its ids
   * from the last step's next_ids without a copy to the host).
   */
  tokens: string;
  numLayers: number;
  numExperts: number;
  /** Strategies the graph supports; ban_and_pick adds 9 nodes per layer. Default: all. */
  strategies?: readonly RoutingStrategy[];
  /** Symbolic name of the batch dimension in the declared inputs. */
  batchDim?: string;
}

/** Per-token tensors (N = B·S), computed once per graph; names of graph values. */
export interface RouterParams {
  numLayers: number;
  numExperts: number;
  withBanAndPick: boolean;
  /** float32 [N, L, E, 5]: the MatMul's column multipliers (channel 3 is multiplied by p). */
  colBase: string;
  /** float32 [N, L, E, 5]: the thresholds. */
  thresholds: string;
  /** bool [N, 1, 5]: channels whose column is multiplied by p. */
  massChannels: string;
  /** bool [N, 1]. */
  renormalize: string;
  /** ban_and_pick only, each [N, 1, 5] on channels 2/3: rank bounds for R, R's weights, T' offset, c. */
  rankBounds?: string;
  rWeights?: string;
  tOffset?: string;
  kSlope?: string;
}

export function makeRouterParams(g: GraphScope, opts: RouterParamsOptions): RouterParams {
  const s = g.withPrefix('/model/router_params');
  const { numLayers: L, numExperts: E } = opts;
  const B = opts.batchDim ?? 'batch';
  const I = GRAPH_INPUTS;
  const strategy = g.input(I.routeStrategy, 'int32', [B]);
  const keyMask = g.input(I.routeKeyMask, 'float32', [B, L, E]);
  const lambda = g.input(I.routeLambda, 'float32', [B]);
  const tau = g.input(I.routeTau, 'float32', [B]);
  const topK = g.input(I.routeTopK, 'int32', [B]);
  const minExperts = g.input(I.routeMinExperts, 'int32', [B]);
  const renorm = g.input(I.routeRenormalize, 'bool', [B]);
  const layerSens = g.input(I.routeLayerSensitivity, 'float32', [B, L]);
  const rRange = g.input(I.routeRRange, 'float32', [B, 2]);

  const f = (v: number | number[]) => g.constF32(v);
  const mul = (a: string, b: string) => s.node('Mul', [a, b]);
  const add = (a: string, b: string) => s.node('Add', [a, b]);
  const sub = (a: string, b: string) => s.node('Sub', [a, b]);
  const unsq = (x: string, axes: number[]) => s.node('Unsqueeze', [x, g.constI64(axes)]);
  const toF32 = (x: string) => s.node('Cast', [x], { to: 1 });
  const is = (name: RoutingStrategy) => toF32(s.node('Equal', [strategy, g.constI32(strategyCode(name))], undefined, { name: `Is_${name}` }));
  // e_c: unit vector of channel c; `ch(x, c)` puts x (any shape broadcastable to [.., 1]) on channel c.
  const e = (...cs: number[]) => f([0, 1, 2, 3, 4].map((c) => (cs.includes(c) ? 1 : 0)));
  const ch = (x: string, ...cs: number[]) => mul(unsq(x, [-1]), e(...cs));

  const K = toF32(topK);
  const m = toF32(minExperts);
  const isTopK = is('top_k');
  const isPick = is('pick');
  const banLike = add(is('ban'), is('pick_and_ban'));
  const keyFirst = add(isPick, is('pick_and_ban'));
  const isBaP = is('ban_and_pick');
  const notBaP = sub(f(1), isBaP);
  const perRow3 = (x: string) => unsq(x, [1, 2]); // [B] -> [B, 1, 1] against [B, L, E]

  // Key-first mask and counts, [B, L, E] / [B, L, 1].
  const key = mul(keyMask, perRow3(keyFirst));
  const nonKey = sub(f(1), key);
  const nKey = s.node('ReduceSum', [key, g.constI64([2])], { keepdims: 1 });
  const mRule = add(mul(isTopK, K), mul(banLike, m));
  const massThreshold = add(mul(isPick, lambda), mul(banLike, tau));
  const keyBig = mul(key, f(BIG));
  const orBig = (x: string) => add(mul(nonKey, x), keyBig); // nonKey ? x : BIG

  const colBase = [ch(mul(nonKey, perRow3(notBaP)), 0), ch(key, 1), ch(nonKey, 2, 3)].reduce(add);

  // ban_and_pick: x − ½ = (K_min + c·W'_l − ½) + c·T', c = (K − K_min)·λ/2; the c·T' part is added per layer.
  const bapKeys = mul(keyMask, perRow3(isBaP));
  const slope = mul(mul(sub(K, m), lambda), f(0.5));
  const layerBase = sub(add(unsq(m, [1]), mul(unsq(slope, [1]), layerSens)), f(0.5)); // [B, L]
  const bapThr = [ch(f(BIG), 0, 1), ch(unsq(layerBase, [2]), 2), ch(mul(bapKeys, perRow3(mul(K, f(2)))), 3)].reduce(add);
  const stdThr = [
    ch(orBig(sub(perRow3(K), nKey)), 0),
    ch(add(mul(key, perRow3(K)), mul(nonKey, f(BIG))), 1),
    ch(orBig(sub(perRow3(mRule), nKey)), 2),
    ch(orBig(perRow3(massThreshold)), 3),
  ].reduce(add);
  const thresholds = [mul(stdThr, unsq(notBaP, [1, 2, 3])), mul(bapThr, unsq(isBaP, [1, 2, 3])), e(4)].reduce(add);
  const massChannels = s.node('Cast', [ch(unsq(notBaP, [1]), 3)], { to: 9 }); // [B, 1, 5]

  // Token n belongs to row floor(n / S).
  const shape = s.node('Shape', [opts.tokens]);
  const seqLen = s.node('Gather', [shape, g.constI64(1)], { axis: 0 });
  const numTokens = mul(s.node('Gather', [shape, g.constI64(0)], { axis: 0 }), seqLen);
  const tokenRow = s.node('Div', [s.node('Range', [g.constI64(0), numTokens, g.constI64(1)]), seqLen]);
  const perToken = (x: string, name: string) => s.node('Gather', [x, tokenRow], { axis: 0 }, { name: `PerToken_${name}` });

  const params: RouterParams = {
    numLayers: L,
    numExperts: E,
    withBanAndPick: (opts.strategies ?? ROUTING_STRATEGIES).includes('ban_and_pick'),
    colBase: perToken(colBase, 'colBase'),
    thresholds: perToken(thresholds, 'thresholds'),
    massChannels: perToken(massChannels, 'massChannels'),
    renormalize: perToken(unsq(renorm, [1]), 'renormalize'),
  };
  if (!params.withBanAndPick) return params;

  // T' = clamp(offset − scale·R, 0, 1); a degenerate range gives scale 0, offset 1 (T' = 1).
  const rMin = s.node('Gather', [rRange, g.constI64(0)], { axis: 1 });
  const rMax = s.node('Gather', [rRange, g.constI64(1)], { axis: 1 });
  const span = sub(rMax, rMin);
  const degenerate = s.node('Less', [span, f(DEGENERATE_R_RANGE)]);
  const scale = s.node('Where', [degenerate, f(0), s.node('Div', [f(1), s.node('Max', [span, f(DEGENERATE_R_RANGE)])])]);
  const offset = s.node('Where', [degenerate, f(1), mul(rMax, scale)]);
  const row5 = (x: string, ...cs: number[]) => mul(unsq(x, [1, 2]), e(...cs)); // [B] -> [B, 1, 5]
  params.rankBounds = perToken(add(row5(K, 3), f([BIG, BIG, 3, 0, BIG])), 'rankBounds');
  params.rWeights = perToken(add(row5(s.node('Neg', [scale]), 2), e(3)), 'rWeights');
  params.tOffset = perToken(row5(offset, 2), 'tOffset');
  params.kSlope = perToken(row5(mul(slope, isBaP), 2), 'kSlope');
  return params;
}
