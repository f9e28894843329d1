import { GRAPH_INPUTS, GRAPH_OUTPUTS } from '../contract.ts';
import type { GraphScope } from '../onnx/index.ts';
import type { Architecture } from '../contract.ts';
import { makeRope, type RotaryCache } from './rope.ts';
import type { Linear } from './weights.ts';

/**
 * Self-attention with a KV cache and an additive bias, from standard ops.
 *
 *   x [N,H] -> q_proj -> [B,S,nH,D] -> T -> RoPE -> * 1/sqrt(D) -> Reshape [B,kvH,G*S,D] --.
 *   x       -> k_proj -> [B,S,kvH,D] -> T -> RoPE -> Concat(past_key, .)  = present_key ---+-> MatMul(q, k^T)
 *   x       -> v_proj -> [B,S,kvH,D] -> T -------> Concat(past_value, .) = present_value   |  + bias (tiled G times)
 *                                                                                       Softmax -> MatMul(., v)
 *   -> Reshape [B,nH,S,D] -> T [B,S,nH,D] -> Reshape [N, nH*D] -> o_proj -> [N,H]
 *
 * Grouped-query attention folds the G = nH/kvH query heads of a kv head into its rows
 * ([B,kvH,G*S,D]), so K and V are never copied per query head.
 */

export interface AttentionShapes {
  /** Shape tensors: [B,S,nH,D] and [B,S,kvH,D] for the projections' reshapes. */
  qShape: string;
  kvShape: string;
  /** attention_bias, tiled G times along the query axis: [B,1,G*S,P+S]. */
  bias: string;
  rotary: RotaryCache;
}

export interface AttentionWeights {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
}

/** Per-graph tensors every layer's attention reuses. */
export function makeAttentionShapes(scope: GraphScope, arch: Architecture, rotary: RotaryCache): AttentionShapes {
  const s = scope.withPrefix('attention_shapes');
  const bs = s.node('Shape', [GRAPH_INPUTS.inputIds]);
  const group = arch.numHeads / arch.numKvHeads;
  return {
    qShape: s.node('Concat', [bs, s.constI64([arch.numHeads, arch.headDim])], { axis: 0 }, { name: 'q_shape' }),
    kvShape: s.node('Concat', [bs, s.constI64([arch.numKvHeads, arch.headDim])], { axis: 0 }, { name: 'kv_shape' }),
    bias: group === 1 ? GRAPH_INPUTS.attentionBias : s.node('Tile', [GRAPH_INPUTS.attentionBias, s.constI64([1, 1, group, 1])], undefined, { name: 'bias_tiled' }),
    rotary,
  };
}

export function makeAttention(scope: GraphScope, arch: Architecture, layer: number, x: string, w: AttentionWeights, shapes: AttentionShapes): string {
  const { numHeads, numKvHeads, headDim } = arch;
  const group = numHeads / numKvHeads;
  const toHeads = (sub: string, flat: string, shape: string) => {
    const s = scope.withPrefix(sub);
    return s.node('Transpose', [s.node('Reshape', [flat, shape])], { perm: [0, 2, 1, 3] });
  };
  const q = toHeads('q', w.q.apply(scope.withPrefix('q_proj'), x), shapes.qShape);
  const k = toHeads('k', w.k.apply(scope.withPrefix('k_proj'), x), shapes.kvShape);
  const v = toHeads('v', w.v.apply(scope.withPrefix('v_proj'), x), shapes.kvShape);
  const qs = scope.withPrefix('q');
  const qScaled = qs.node('Mul', [makeRope(qs.withPrefix('rope'), q, shapes.rotary), qs.constF32(1 / Math.sqrt(headDim))], undefined, { name: 'Scale' });
  const kRot = makeRope(scope.withPrefix('k/rope'), k, shapes.rotary);
  const presentKey = scope.node('Concat', [GRAPH_INPUTS.pastKey(layer), kRot], { axis: 2 }, { outputs: [GRAPH_OUTPUTS.presentKey(layer)], name: 'present_key' })[0];
  const presentValue = scope.node('Concat', [GRAPH_INPUTS.pastValue(layer), v], { axis: 2 }, { outputs: [GRAPH_OUTPUTS.presentValue(layer)], name: 'present_value' })[0];

  const a = scope.withPrefix('sdpa');
  const qGrouped = group === 1 ? qScaled : a.node('Reshape', [qScaled, a.constI64([0, numKvHeads, -1, headDim])], undefined, { name: 'GroupQueries' });
  const scores = a.node('MatMul', [qGrouped, a.node('Transpose', [presentKey], { perm: [0, 1, 3, 2] })], undefined, { name: 'QK' });
  const probs = a.node('Softmax', [a.node('Add', [scores, shapes.bias], undefined, { name: 'Bias' })], { axis: -1 });
  const ctx = a.node('MatMul', [probs, presentValue], undefined, { name: 'PV' });
  const ctxHeads = group === 1 ? ctx : a.node('Reshape', [ctx, a.constI64([0, numHeads, -1, headDim])], undefined, { name: 'UngroupQueries' });
  const merged = a.node('Reshape', [a.node('Transpose', [ctxHeads], { perm: [0, 2, 1, 3] }), a.constI64([-1, numHeads * headDim])], undefined, { name: 'MergeHeads' });
  return w.o.apply(scope.withPrefix('o_proj'), merged);
}
