import * as ort from 'onnxruntime-node';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { strategyCode } from '../../../../shared/routing/schema.ts';
import { GRAPH_INPUTS } from '../contract.ts';
import { assertResolvedRouting, type RouterLimits } from './validate.ts';

/**
 * Packs one ResolvedRouting per batch row into the graph's route_* input tensors (contract.ts),
 * validating every row first. ban_and_pick without a calibrated profile gets W'_l = 1 and a
 * degenerate R range (so T' = 1): K_{i,l} = round(K_min + (K − K_min)·λ), λ alone sets the budget.
 */
export function packRouterInputs(rows: readonly ResolvedRouting[], limits: RouterLimits): Record<string, ort.Tensor> {
  const { numLayers: L, numExperts: E } = limits;
  const B = rows.length;
  if (B === 0) throw new Error('packRouterInputs: no batch rows');
  rows.forEach((row, i) => assertResolvedRouting(row, limits, i));

  const strategy = new Int32Array(B);
  const keyMask = new Float32Array(B * L * E);
  const lambda = new Float32Array(B);
  const tau = new Float32Array(B);
  const topK = new Int32Array(B);
  const minExperts = new Int32Array(B);
  const renormalize = new Uint8Array(B);
  const layerSensitivity = new Float32Array(B * L);
  const rRange = new Float32Array(B * 2);
  rows.forEach((row, b) => {
    strategy[b] = strategyCode(row.strategy);
    keyMask.set(row.keyExpertMask, b * L * E);
    lambda[b] = row.lambda;
    tau[b] = row.tau;
    topK[b] = row.topK;
    minExperts[b] = row.minExperts;
    renormalize[b] = row.renormalize ? 1 : 0;
    if (row.strategy === 'ban_and_pick') {
      layerSensitivity.set(row.layerSensitivity ?? new Float32Array(L).fill(1), b * L);
      rRange[b * 2] = row.rMin ?? 0;
      rRange[b * 2 + 1] = row.rMax ?? 0;
    }
  });
  const I = GRAPH_INPUTS;
  return {
    [I.routeStrategy]: new ort.Tensor('int32', strategy, [B]),
    [I.routeKeyMask]: new ort.Tensor('float32', keyMask, [B, L, E]),
    [I.routeLambda]: new ort.Tensor('float32', lambda, [B]),
    [I.routeTau]: new ort.Tensor('float32', tau, [B]),
    [I.routeTopK]: new ort.Tensor('int32', topK, [B]),
    [I.routeMinExperts]: new ort.Tensor('int32', minExperts, [B]),
    [I.routeRenormalize]: new ort.Tensor('bool', renormalize, [B]),
    [I.routeLayerSensitivity]: new ort.Tensor('float32', layerSensitivity, [B, L]),
    [I.routeRRange]: new ort.Tensor('float32', rRange, [B, 2]),
  };
}
