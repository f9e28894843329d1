import { GRAPH_INPUTS, GRAPH_OUTPUTS, type Architecture } from '../contract.ts';
import type { GraphScope } from '../onnx/index.ts';
import { layerNames } from '../../checkpoint/tensor-names.ts';
import type { ModelWeights } from './weights.ts';

/**
 * Self-attention as one com.microsoft GroupQueryAttention node, for GPU EPs where every node costs
 * a dispatch: q/k/v come out of one packed projection and RoPE is applied inside the kernel from
 * cos/sin caches, so a layer's attention is 4 nodes instead of the ~38 of attention.ts.
 *
 *   x [N,H] -> [q;k;v] projection (+ packed bias) -> Reshape [B,S,(nH+2kvH)*D]
 *           -> GroupQueryAttention(past_*, seqlens_k, total_sequence_length, cos, sin)
 *           -> [B,S,nH*D] -> Reshape [N, nH*D] -> o_proj
 *
 * GQA appends each row's new keys at its own past length (seqlens_k), so rows stay contiguous from
 * position 0 and need no padding mask; every row of a run computes the same number of tokens.
 */

export interface GqaShapes {
  /** [B, S, -1] for the packed projection. */
  packedShape: string;
  cos: string;
  sin: string;
}

/**
 * Per-graph tensors every layer's GQA reuses: the rotary caches (as transformers computes them, in
 * fp32; in the query's type, `half`, by a Cast ORT folds at load). `tokens` is [B, S, ...]: B and S
 * come from its shape.
 */
export function makeGqaShapes(scope: GraphScope, arch: Architecture, halfType: boolean, tokens: string): GqaShapes {
  const s = scope.withPrefix('gqa_shapes');
  const half = arch.headDim / 2;
  const invFreq = Array.from({ length: half }, (_, i) => Math.fround(1 / Math.pow(arch.ropeTheta, (2 * i) / arch.headDim)));
  const positions = arch.maxPositionEmbeddings;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * invFreq[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  const bs = s.node('Slice', [s.node('Shape', [tokens]), s.constI64([0]), s.constI64([2])]);
  const cache = (name: string, data: Float32Array) => {
    const v = s.initializer(name, { dtype: 'float32', dims: [positions, half], data });
    return halfType ? s.node('Cast', [v], { to: 10 }, { name: `${name}/ToHalf` }) : v;
  };
  return {
    packedShape: s.node('Concat', [bs, s.constI64([-1])], { axis: 0 }, { name: 'packed_shape' }),
    cos: cache('/rotary/cos_cache', cos),
    sin: cache('/rotary/sin_cache', sin),
  };
}

export function makeGqaAttention(scope: GraphScope, arch: Architecture, layer: number, x: string, weights: ModelWeights, shapes: GqaShapes): string {
  const { numHeads, numKvHeads, headDim, hiddenSize: H } = arch;
  const n = layerNames(layer);
  const rows = (numHeads + 2 * numKvHeads) * headDim;
  const concat = (names: string[]) => () => {
    const parts = names.map((name) => weights.read(name));
    const out = new Float32Array(parts.reduce((k, p) => k + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const bias = weights.float32(scope, `model.layers.${layer}.self_attn.qkv_proj.bias`, concat([n.qBias, n.kBias, n.vBias]));
  const qkv = weights.assembled(scope, `model.layers.${layer}.self_attn.qkv_proj.weight`, [rows, H], concat([n.q, n.k, n.v]), { bias });
  const packed = qkv.apply(scope.withPrefix('qkv_proj'), x);
  const [attn] = scope.node('GroupQueryAttention', [
    scope.node('Reshape', [packed, shapes.packedShape], undefined, { name: 'PackedQkv' }), '', '',
    GRAPH_INPUTS.pastKey(layer), GRAPH_INPUTS.pastValue(layer), GRAPH_INPUTS.seqlensK, GRAPH_INPUTS.totalSequenceLength, shapes.cos, shapes.sin,
  ], { num_heads: numHeads, kv_num_heads: numKvHeads, do_rotary: 1, rotary_interleaved: 0 }, {
    domain: 'com.microsoft', name: 'GroupQueryAttention', outputs: [`${scope.prefix}/GroupQueryAttention/output_0`, GRAPH_OUTPUTS.presentKey(layer), GRAPH_OUTPUTS.presentValue(layer)],
  });
  const merged = scope.node('Reshape', [attn, scope.constI64([-1, numHeads * headDim])], undefined, { name: 'MergeHeads' });
  return weights.linear(scope, n.o).apply(scope.withPrefix('o_proj'), merged);
}
