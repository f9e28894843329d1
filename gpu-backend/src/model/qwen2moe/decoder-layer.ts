import type { Architecture } from '../contract.ts';
import type { GraphScope } from '../onnx/index.ts';
import { layerNames } from '../../checkpoint/tensor-names.ts';
import { makeAttention, type AttentionShapes } from './attention.ts';
import { makeSharedExpert, makeSparseMoe } from './moe.ts';
import { makeRmsNorm } from './norm.ts';
import type { ModelWeights } from './weights.ts';

/**
 * One Qwen2MoE decoder layer over flattened tokens [N,H]:
 *
 *   h -> RMSNorm -> attention -> + h -> h'
 *   h' -> RMSNorm -> x -> router logits (x @ gate^T, fp32) -> router kernel -> selected, weights
 *                     x -> shared expert (sigmoid-gated) -> base
 *                     x, base -> sparse experts (If per expert) -> + h' -> out
 */

/** Emits the Pick & Ban router for one layer (gpu-backend/src/model/router). */
export type EmitRouter = (scope: GraphScope, layer: number, logits: string) => { selected: string; weights: string };

export interface DecoderLayerOutputs {
  hidden: string;
  selected: string;
}

export function makeDecoderLayer(
  g: GraphScope,
  arch: Architecture,
  layer: number,
  hidden: string,
  weights: ModelWeights,
  shapes: AttentionShapes,
  emitRouter: EmitRouter,
  skippedExpertRows: 0 | 1 = 0,
): DecoderLayerOutputs {
  const n = layerNames(layer);
  const s = g.withPrefix(`/model/layers.${layer}`);
  const attnIn = makeRmsNorm(s.withPrefix('input_layernorm'), hidden, weights.float32(s, n.inputNorm), arch.rmsNormEps);
  const attnScope = s.withPrefix('attn');
  const attn = makeAttention(attnScope, arch, layer, attnIn, {
    q: weights.linear(attnScope, n.q, n.qBias),
    k: weights.linear(attnScope, n.k, n.kBias),
    v: weights.linear(attnScope, n.v, n.vBias),
    o: weights.linear(attnScope, n.o),
  }, shapes);
  const afterAttn = s.node('Add', [hidden, attn], undefined, { name: 'attn_residual' });

  const moeIn = makeRmsNorm(s.withPrefix('post_attention_layernorm'), afterAttn, weights.float32(s, n.postNorm), arch.rmsNormEps);
  const moe = s.withPrefix('moe');
  // Router logits stay fp32 in every weight format: the kernel's thresholds compare probabilities.
  const logits = moe.node('Gemm', [moeIn, weights.float32(moe, n.router)], { transB: 1 }, { name: 'router/logits' });
  const { selected, weights: routeWeights } = emitRouter(moe.withPrefix('router'), layer, logits);

  const shared = arch.sharedExpertIntermediateSize > 0
    ? makeSharedExpert(moe, moeIn, {
        gate: weights.linear(moe, n.shared('gate_proj')),
        up: weights.linear(moe, n.shared('up_proj')),
        down: weights.linear(moe, n.shared('down_proj')),
      }, weights.linear(moe, n.sharedGate))
    : moe.node('Mul', [moeIn, moe.constF32(0)], undefined, { name: 'zeros' });
  const moeOut = makeSparseMoe(moe, {
    x: moeIn, selected, weights: routeWeights, base: shared, numExperts: arch.numExperts, hiddenSize: arch.hiddenSize, skippedExpertRows,
    // Expert weights are main-graph initializers that the branches read from the outer scope. ORT
    // prepacks them either way (measured: same ~0.3 ms per expert), but as branch initializers it
    // kept a second copy resident (+500 MB on two A2.7B-shaped layers).
    expert: (_branch, e) => ({
      gate: weights.linear(moe, n.expert(e, 'gate_proj')),
      up: weights.linear(moe, n.expert(e, 'up_proj')),
      down: weights.linear(moe, n.expert(e, 'down_proj')),
    }),
  });
  return { hidden: s.node('Add', [afterAttn, moeOut], undefined, { name: 'moe_residual' }), selected };
}
