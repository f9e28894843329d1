import { GRAPH_INPUTS, GRAPH_OUTPUTS, type Architecture, type AttentionKind } from '../contract.ts';
import { makeGqaShapes } from './attention-gqa.ts';
import type { GraphBuilder, GraphScope } from '../onnx/index.ts';
import { embedName, finalNormName, lmHeadName } from '../../checkpoint/tensor-names.ts';
import { makeAttentionShapes } from './attention.ts';
import { makeDecoderLayer, type EmitRouter, type LayerRouter, type MoeFormulation } from './decoder-layer.ts';
import { makeResidualNorm, makeRmsNorm, type ResidualStream } from './norm.ts';
import { makeRotaryCache } from './rope.ts';
import { topKSelection } from './moe-stacked.ts';
import type { ModelWeights } from './weights.ts';

/**
 * The whole Qwen2MoE step graph, I/O as gpu-backend/src/model/contract.ts documents:
 *
 *   input_ids [B,S] -> Reshape [N] -> embed Gather -> h [N,H]
 *   position_ids -> cos/sin;  attention_bias -> tiled per query group
 *   h -> layer 0 .. L-1 (each also writes present_key/value.l and its router mask)
 *   h -> Gather(last_index) [B,H] -> RMSNorm -> lm_head -> logits [B,V]
 *   router masks [N,E] x L -> Concat [N,L,E] -> Reshape -> Cast u8 -> expert_mask [B,S,L,E]
 *   (a top_k graph concatenates the layers' logits and takes every mask in one top-k there)
 *
 * Tokens stay flattened to [N,H] (N = B*S) between blocks so every linear is a 2-D Gemm or
 * MatMulNBits; only attention reshapes to heads.
 */

export interface Qwen2MoeGraphOptions {
  arch: Architecture;
  weights: ModelWeights;
  /**
   * Declares the route_* inputs once and returns the per-layer router emitter; or 'top_k': no
   * kernel and no route_* inputs, QMoE's own top-k at the model's k (a graph for plain batches).
   */
  router: ((g: GraphBuilder) => EmitRouter) | 'top_k';
  /** Residual Adds fused into the norms (SkipSimplifiedLayerNormalization; GPU graphs). */
  fusedNorms?: boolean;
  /** See SparseMoeInputs.skippedExpertRows: 1 for WebGPU graphs. */
  skippedExpertRows?: 0 | 1;
  /** The routed experts' formulation (default sparse, the CPU's). */
  moe?: MoeFormulation;
  /** QMoE's fixed k: the largest top_k a request may use. */
  maxTopK?: number;
  /** Standard-op attention with a bias (default), or GroupQueryAttention (GPU EPs). */
  attention?: AttentionKind;
}

export function buildQwen2MoeGraph(g: GraphBuilder, opts: Qwen2MoeGraphOptions): void {
  const { arch, weights } = opts;
  const { numLayers: L, numExperts: E, numKvHeads, headDim } = arch;
  const gqa = opts.attention === 'gqa';
  // The KV cache has the stream's type (fp16 in GPU graphs: half the cache, and what GQA reads).
  const act = weights.activations;
  if (act === 'float16' && !gqa) throw new Error('fp16 activations need GroupQueryAttention graphs');
  g.input(GRAPH_INPUTS.inputIds, 'int64', ['batch', 'seq']);
  if (gqa) {
    g.input(GRAPH_INPUTS.seqlensK, 'int32', ['batch']);
    g.input(GRAPH_INPUTS.totalSequenceLength, 'int32', []);
  } else {
    g.input(GRAPH_INPUTS.positionIds, 'int64', ['batch', 'seq']);
    g.input(GRAPH_INPUTS.attentionBias, 'float32', ['batch', 1, 'seq', 'total']);
  }
  g.input(GRAPH_INPUTS.lastIndex, 'int64', ['batch']);
  for (let l = 0; l < L; l++) {
    g.input(GRAPH_INPUTS.pastKey(l), act, ['batch', numKvHeads, 'past', headDim]);
    g.input(GRAPH_INPUTS.pastValue(l), act, ['batch', numKvHeads, 'past', headDim]);
  }
  const router: LayerRouter = opts.router === 'top_k' ? { kind: 'top_k', k: arch.numExpertsPerTok } : { kind: 'kernel', emit: opts.router(g) };
  const fusedNorms = opts.fusedNorms ?? false;

  const m = g.withPrefix('/model');
  const flatIds = m.node('Reshape', [GRAPH_INPUTS.inputIds, m.constI64([-1])], undefined, { name: 'embed_tokens/FlatIds' });
  let stream: ResidualStream = { sum: weights.embed(m.withPrefix('embed_tokens'), embedName, flatIds) };
  const shapes = gqa
    ? { kind: 'gqa' as const, gqa: makeGqaShapes(m, arch, act === 'float16') }
    : { kind: 'sdpa' as const, sdpa: makeAttentionShapes(m, arch, makeRotaryCache(m, GRAPH_INPUTS.positionIds, headDim, arch.ropeTheta)) };

  // Per layer, the selection mask [N,E] (or, with a top_k router, the logits it is taken from). It
  // stays float until the end: WebGPU has no 8-bit types, so a uint8 op per layer would run on the
  // CPU and cost a device-to-host copy (and a stall) per layer.
  const selections: string[] = [];
  for (let l = 0; l < L; l++) {
    const out = makeDecoderLayer(g, arch, l, stream, weights, shapes, router, {
      moe: opts.moe ?? 'sparse', skippedExpertRows: opts.skippedExpertRows ?? 0, maxTopK: opts.maxTopK ?? arch.numExpertsPerTok, fusedNorms,
    });
    stream = out.stream;
    selections.push('selected' in out.routing ? out.routing.selected : out.routing.topKLogits);
  }

  const finalNorm = weights.vector(m, finalNormName);
  const lastOf = (x: string) => m.node('Gather', [x, GRAPH_INPUTS.lastIndex], { axis: 0 }, { name: 'LastPositions' });
  // A pending residual Add rides in the final norm (over every token: one node, and cheap next to a layer).
  const normed = stream.add
    ? lastOf(makeResidualNorm(m.withPrefix('norm'), stream, finalNorm, arch.rmsNormEps, fusedNorms, { scope: m, name: 'final_residual' }).normed)
    : makeRmsNorm(m.withPrefix('norm'), lastOf(stream.sum), finalNorm, arch.rmsNormEps);
  const head = weights.linear(g.withPrefix('/lm_head'), lmHeadName).apply(g.withPrefix('/lm_head'), normed);
  // Logits leave the graph as fp32 (host sampling reads them); the greedy ids come from the same values.
  const logits = act === 'float32' ? head : g.node('Cast', [head], { to: 1 }, { name: '/lm_head/ToFloat' });
  g.output(GRAPH_OUTPUTS.logits, 'float32', ['batch', arch.vocabSize], logits);
  // Greedy rows need only this: a [B, V] download per step costs more than the step at large B on WebGPU.
  g.output(GRAPH_OUTPUTS.greedyIds, 'int64', ['batch'], makeGreedyIds(g.withPrefix('/lm_head/greedy'), logits, arch.vocabSize));
  for (let l = 0; l < L; l++) {
    g.output(GRAPH_OUTPUTS.presentKey(l), act, ['batch', numKvHeads, 'total', headDim]);
    g.output(GRAPH_OUTPUTS.presentValue(l), act, ['batch', numKvHeads, 'total', headDim]);
  }
  // [N, L*E] laid out token-major, reshaped to [B, S, L, E].
  const em = g.withPrefix('/model/expert_mask');
  const concat = L === 1 ? selections[0] : em.node('Concat', selections, { axis: 1 });
  // top_k: one top-k over [N, L, E] for every layer's mask.
  const stacked = router.kind === 'top_k' ? topKSelection(em, em.node('Reshape', [concat, em.constI64([0, L, E])], undefined, { name: 'PerLayer' }), router.k, act) : concat;
  const maskShape = em.node('Concat', [em.node('Shape', [GRAPH_INPUTS.inputIds]), em.constI64([L, E])], { axis: 0 });
  g.output(GRAPH_OUTPUTS.expertMask, 'uint8', ['batch', 'seq', L, E], em.node('Cast', [em.node('Reshape', [stacked, maskShape])], { to: 2 }));
}

/**
 * ArgMax of [B, V] logits (lowest id on ties) in two stages. WebGPU's ArgMax gives each output one
 * invocation that walks the whole axis: one row of 151,936 logits took ~15 ms on an H100 (profile).
 * Over chunks of C it walks C, then V/C: the best chunk's max is the row's max, and the lowest chunk
 * holding it, at its lowest offset, is the lowest id.
 */
export function makeGreedyIds(s: GraphScope, logits: string, V: number): string {
  const C = [256, 128, 64, 32, 16].find((c) => V % c === 0 && V / c >= c);
  if (!C) return s.node('ArgMax', [logits], { axis: 1, keepdims: 0, select_last_index: 0 });
  const chunks = s.node('Reshape', [logits, s.constI64([0, V / C, C])], undefined, { name: 'Chunks' });
  const inChunk = s.node('ArgMax', [chunks], { axis: 2, keepdims: 0, select_last_index: 0 }, { name: 'InChunk' });
  const chunkMax = s.node('ReduceMax', [chunks], { axes: [2], keepdims: 0 }, { name: 'ChunkMax' });
  const best = s.node('ArgMax', [chunkMax], { axis: 1, keepdims: 1, select_last_index: 0 }, { name: 'BestChunk' });
  const offset = s.node('GatherElements', [inChunk, best], { axis: 1 }, { name: 'Offset' });
  const id = s.node('Add', [s.node('Mul', [best, s.constI64(C)]), offset], undefined, { name: 'Id' });
  return s.node('Squeeze', [id, s.constI64([1])]);
}
