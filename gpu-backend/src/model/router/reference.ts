import type { RoutingStrategy } from '../../../../shared/routing/schema.ts';

/**
 * A plain scalar reference of every routing strategy, one token and one layer at a time, written
 * straight from the definitions in README.md (sort, then walk). Tests only: the graph kernel
 * (kernel.ts) must agree with it. Probabilities are float64 unless `probs` is given.
 */
export interface ReferenceParams {
  strategy: RoutingStrategy;
  topK: number;
  lambda?: number;
  tau?: number;
  /** m for ban / pick_and_ban, K_min for ban_and_pick. */
  minExperts?: number;
  renormalize?: boolean;
  /** This layer's key experts. */
  keyExperts?: number[];
  /** ban_and_pick: W'_l of this layer, and the token-sensitivity range [R_min, R_max]. */
  layerSensitivity?: number;
  rRange?: [number, number];
}

export interface ReferenceResult {
  /** Selected expert ids, ascending, with their gate weights in the same order. */
  selected: number[];
  weights: number[];
  /** Smallest distance of any threshold decision from its threshold (for picking robust random cases). */
  margin: number;
}

/** Below this R_max − R_min the profile carries no token-sensitivity information: T' = 1. */
export const DEGENERATE_R_RANGE = 1e-6;

export function softmax64(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/** Expert ids by descending p, ties by lower id. */
export function routerOrder(p: readonly number[]): number[] {
  return p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
}

export function referenceRoute(logits: ArrayLike<number>, params: ReferenceParams, probs?: readonly number[]): ReferenceResult {
  const p = probs ?? softmax64(logits);
  const order = routerOrder(p);
  const K = params.topK;
  const m = params.minExperts ?? 1;
  const keys = new Set(params.keyExperts ?? []);
  const taken: number[] = [];
  let margin = Infinity;
  const below = (value: number, threshold: number) => {
    // The mass before the first walked expert is an empty sum, exactly 0 in any precision.
    if (value !== 0) margin = Math.min(margin, Math.abs(value - threshold));
    return value < threshold;
  };

  // pick / pick_and_ban: the key experts first, at most K of them, most probable first.
  const takeKeysThenWalk = (rule: (nonKeyMassBefore: number) => boolean) => {
    for (const e of order) if (keys.has(e) && taken.length < K) taken.push(e);
    let nonKeyMass = 0;
    for (const e of order) {
      if (keys.has(e)) continue;
      if (!(taken.length < K && rule(nonKeyMass))) break;
      taken.push(e);
      nonKeyMass += p[e];
    }
  };

  switch (params.strategy) {
    case 'top_k':
      taken.push(...order.slice(0, K));
      break;
    case 'pick':
      takeKeysThenWalk((mass) => below(mass, params.lambda ?? 1));
      break;
    case 'pick_and_ban':
      takeKeysThenWalk((mass) => taken.length < m || below(mass, params.tau ?? 0.9));
      break;
    case 'ban': {
      let mass = 0;
      for (const e of order) {
        if (!(taken.length < K && (taken.length < m || below(mass, params.tau ?? 0.9)))) break;
        taken.push(e);
        mass += p[e];
      }
      break;
    }
    case 'ban_and_pick': {
      const kil = banAndPickExperts(p, order, params);
      margin = Math.min(margin, kil.margin);
      order.forEach((e, rank) => {
        if (rank < kil.count || (keys.has(e) && rank < 2 * K)) taken.push(e);
      });
      break;
    }
    default:
      throw new Error(`unknown strategy ${params.strategy satisfies never}`);
  }

  const selected = [...taken].sort((a, b) => a - b);
  const sum = params.renormalize ? selected.reduce((a, e) => a + p[e], 0) : 1;
  return { selected, weights: selected.map((e) => (sum > 0 ? p[e] / sum : 0)), margin };
}

/**
 * ban_and_pick's per-token expert count K_{i,l} = round(x), x = K_min + (K − K_min)·λ·(W'_l + T'_i)/2,
 * T'_i = clamp((R_max − R_i)/(R_max − R_min), 0, 1), R_i = top-3 mass / top-K mass.
 * Rounding is to nearest with halves going down (K_il = ceil(x − 1/2)); see README.md for why.
 */
export function banAndPickExperts(p: readonly number[], order: readonly number[], params: ReferenceParams): { count: number; margin: number } {
  const K = params.topK;
  const kMin = params.minExperts ?? 1;
  const lambda = params.lambda ?? 1;
  const w = params.layerSensitivity ?? 1;
  const [rMin, rMax] = params.rRange ?? [0, 0];
  const massOf = (n: number) => order.slice(0, n).reduce((a, e) => a + p[e], 0);
  const r = massOf(3) / massOf(K);
  const t = rMax - rMin < DEGENERATE_R_RANGE ? 1 : Math.min(1, Math.max(0, (rMax - r) / (rMax - rMin)));
  const x = kMin + ((K - kMin) * lambda * (w + t)) / 2;
  const count = Math.max(0, Math.ceil(x - 0.5));
  // Distance of x − 1/2 from the nearest integer: how close this token is to a rounding flip.
  const margin = Math.abs(x - 0.5 - Math.round(x - 0.5));
  return { count, margin };
}
