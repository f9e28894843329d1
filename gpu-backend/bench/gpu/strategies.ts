import type { ResolvedRouting } from '../../../shared/routing/resolve.ts';
import { routing } from '../../src/engine/testing.ts';
import type { Manifest } from '../../src/model/contract.ts';

/**
 * The routing strategies the benchmarks compare, defined once. The same five as
 * gpu-backend/src/engine/bench/engine-bench.ts (which keeps its own copy for now; it can import
 * this list instead): names are what the tables print.
 */
export interface BenchStrategy {
  name: string;
  routing: (numLayers: number, numExperts: number, topK: number) => ResolvedRouting;
}

const keysEveryLayer = (numLayers: number, ids: number[]) => Object.fromEntries(Array.from({ length: numLayers }, (_, l) => [l, ids]));

export const BENCH_STRATEGIES: BenchStrategy[] = [
  { name: 'top_k', routing: (L, E, K) => routing(L, E, { topK: K }) },
  { name: 'pick (keys 0,1 every layer, λ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'pick', topK: K, lambda: 0.5, keyExperts: keysEveryLayer(L, [0, 1]) }) },
  { name: 'ban (τ=0.9)', routing: (L, E, K) => routing(L, E, { strategy: 'ban', topK: K, tau: 0.9 }) },
  { name: 'ban (τ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'ban', topK: K, tau: 0.5 }) },
  { name: 'pick_and_ban (keys 0,1, τ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'pick_and_ban', topK: K, tau: 0.5, keyExperts: keysEveryLayer(L, [0, 1]) }) },
];

/** The strategies this model's manifest allows, bound to its shape. */
export function strategiesFor(manifest: Manifest): { name: string; routing: ResolvedRouting }[] {
  const { numLayers: L, numExperts: E } = manifest.architecture;
  const K = manifest.routing.defaultTopK;
  return BENCH_STRATEGIES.map((s) => ({ name: s.name, routing: s.routing(L, E, K) })).filter((s) => manifest.routing.strategies.includes(s.routing.strategy));
}

/** Plain top-k at the model's default k: the routing of every non-strategy section. */
export function defaultRouting(manifest: Manifest): ResolvedRouting {
  return BENCH_STRATEGIES[0].routing(manifest.architecture.numLayers, manifest.architecture.numExperts, manifest.routing.defaultTopK);
}
