// TEMPORARY stand-in for packRouterInputs of gpu-backend/src/model/router (owned by the router
// kernel's author), which had not landed yet. This file becomes a re-export of it once it does.
import * as ort from 'onnxruntime-node';
import { strategyCode } from '../../../../shared/routing/schema.ts';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
export function packRouterInputs(rows: ResolvedRouting[], dims: { numLayers: number; numExperts: number; maxTopK: number }): Record<string, ort.Tensor> {
  const B = rows.length;
  const { numLayers: L, numExperts: E } = dims;
  const key = new Float32Array(B * L * E);
  rows.forEach((r, b) => r.keyExpertMask.forEach((v, i) => (key[b * L * E + i] = v)));
  return {
    route_strategy: new ort.Tensor('int32', Int32Array.from(rows, (r) => strategyCode(r.strategy)), [B]),
    route_key_mask: new ort.Tensor('float32', key, [B, L, E]),
    route_lambda: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.lambda), [B]),
    route_tau: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.tau), [B]),
    route_top_k: new ort.Tensor('int32', Int32Array.from(rows, (r) => r.topK), [B]),
    route_min_experts: new ort.Tensor('int32', Int32Array.from(rows, (r) => r.minExperts), [B]),
    route_renormalize: new ort.Tensor('bool', Uint8Array.from(rows, (r) => (r.renormalize ? 1 : 0)), [B]),
  };
}
