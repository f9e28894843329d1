import * as ort from 'onnxruntime-node';
import { strategyCode, type RoutingStrategy } from '../../../shared/routing/schema.ts';
import { GRAPH_INPUTS, type Architecture } from '../model/contract.ts';
import type { RouteFn } from '../model/reference/forward.ts';
import { referenceRoute, type ReferenceParams } from '../model/router/reference.ts';

/**
 * One batch row's routing for graph tests, and the matching scalar reference router, so a test
 * states a strategy once and gets both the route_* feeds and the reference forward's RouteFn.
 */
export type RowRouting = Omit<ReferenceParams, 'keyExperts' | 'layerSensitivity'> & {
  /** Key experts by layer. */
  keyExperts?: Record<number, number[]>;
  /** W'_l per layer. */
  layerSensitivity?: number[];
};

/** route_* feeds for the rows, limited to the inputs the session declares. */
export function routeFeeds(arch: Architecture, rows: RowRouting[], inputNames: readonly string[]): Record<string, ort.Tensor> {
  const B = rows.length;
  const { numLayers: L, numExperts: E } = arch;
  const keyMask = new Float32Array(B * L * E);
  const sens = new Float32Array(B * L);
  const rRange = new Float32Array(B * 2);
  rows.forEach((r, b) => {
    for (const [l, ids] of Object.entries(r.keyExperts ?? {})) for (const e of ids) keyMask[(b * L + Number(l)) * E + e] = 1;
    r.layerSensitivity?.forEach((w, l) => (sens[b * L + l] = w));
    rRange.set(r.rRange ?? [0, 0], b * 2);
  });
  const all: Record<string, ort.Tensor> = {
    [GRAPH_INPUTS.routeStrategy]: new ort.Tensor('int32', Int32Array.from(rows, (r) => strategyCode(r.strategy)), [B]),
    [GRAPH_INPUTS.routeKeyMask]: new ort.Tensor('float32', keyMask, [B, L, E]),
    [GRAPH_INPUTS.routeLambda]: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.lambda ?? 1), [B]),
    [GRAPH_INPUTS.routeTau]: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.tau ?? 0.9), [B]),
    [GRAPH_INPUTS.routeTopK]: new ort.Tensor('int32', Int32Array.from(rows, (r) => r.topK), [B]),
    [GRAPH_INPUTS.routeMinExperts]: new ort.Tensor('int32', Int32Array.from(rows, (r) => r.minExperts ?? 1), [B]),
    [GRAPH_INPUTS.routeRenormalize]: new ort.Tensor('bool', Uint8Array.from(rows, (r) => (r.renormalize ? 1 : 0)), [B]),
    [GRAPH_INPUTS.routeLayerSensitivity]: new ort.Tensor('float32', sens, [B, L]),
    [GRAPH_INPUTS.routeRRange]: new ort.Tensor('float32', rRange, [B, 2]),
  };
  return Object.fromEntries(Object.entries(all).filter(([name]) => inputNames.includes(name)));
}

/** The reference router for one row; `margins` collects each decision's distance from its threshold. */
export function referenceRouteFn(r: RowRouting, numExperts: number, margins?: number[]): RouteFn {
  return (logits, layer) => {
    const res = referenceRoute(logits, {
      strategy: r.strategy, topK: r.topK, lambda: r.lambda, tau: r.tau, minExperts: r.minExperts, renormalize: r.renormalize,
      keyExperts: r.keyExperts?.[layer] ?? [], layerSensitivity: r.layerSensitivity?.[layer], rRange: r.rRange,
    });
    margins?.push(res.margin);
    const selected = new Uint8Array(numExperts);
    const weights = new Float32Array(numExperts);
    res.selected.forEach((e, i) => {
      selected[e] = 1;
      weights[e] = res.weights[i];
    });
    return { selected, weights };
  };
}
