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
 *   input_ids [B,S] -> embed Gather [B,S,H] -> Reshape -> h [N,H]
 *   position_ids -> cos/sin;  attention_bias -> tiled per query group
 *   h -> layer 0 .. L-1 (each also writes present_key/value.l and its router mask)
 *   h -> Gather(last_index) [B,H] -> RMSNorm -> lm_head -> logits [B,V]
 *   logits -> greedy id [B];  router masks [N,E] x L -> Concat [N,L*E] -> [B, S*L*E]
 *   -> host_outputs [B, 1 + S*L*E] = (greedy id, masks): one host copy per step
 *   greedy id -> next_ids [B,1] int64: the next step's input_ids, without the host
 *   (a top_k graph concatenates the layers' logits and takes every mask in one top-k there)
 *
 * Tokens stay flattened to [N,H] (N = B*S) between blocks so every linear is a 2-D Gemm or
 * MatMulNBits; only attention reshapes to heads.
 */

export interface Qwen2MoeGraphOptions {
  arch: Architecture;
  weights: ModelWeights;
  /**
   * Declares the route_* inputs once (B and S from `tokens`, [B, S, H]) and returns the per-layer router emitter; or 'top_k': no
   * kernel and no route_* inputs, QMoE's own top-k at the model's k (a graph for plain batches).
   */
  router: ((g: GraphBuilder, tokens: string) => EmitRouter) | 'top_k';
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
  // Its own dim: B in the engine; a caller may name more positions (calibration reads all B*S).
  g.input(GRAPH_INPUTS.lastIndex, 'int64', ['rows']);
  for (let l = 0; l < L; l++) {
    g.input(GRAPH_INPUTS.pastKey(l), act, ['batch', numKvHeads, 'past', headDim]);
    g.input(GRAPH_INPUTS.pastValue(l), act, ['batch', numKvHeads, 'past', headDim]);
  }
  const fusedNorms = opts.fusedNorms ?? false;

  const m = g.withPrefix('/model');
  // The embedding Gather is input_ids' only reader, and B, S come from its [B, S, H] output: a GPU
  // step may then take input_ids from the last step's next_ids without any CPU node waiting for it.
  const embedded = weights.embed(m.withPrefix('embed_tokens'), embedName, GRAPH_INPUTS.inputIds);
  let stream: ResidualStream = { sum: m.node('Reshape', [embedded, m.constI64([-1, arch.hiddenSize])], undefined, { name: 'embed_tokens/Flat' }) };
  const router: LayerRouter = opts.router === 'top_k' ? { kind: 'top_k', k: arch.numExpertsPerTok } : { kind: 'kernel', emit: opts.router(g, embedded) };
  const shapes = gqa
    ? { kind: 'gqa' as const, gqa: makeGqaShapes(m, arch, act === 'float16', embedded) }
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
  g.output(GRAPH_OUTPUTS.logits, 'float32', ['rows', arch.vocabSize], logits);
  for (let l = 0; l < L; l++) {
    g.output(GRAPH_OUTPUTS.presentKey(l), act, ['batch', numKvHeads, 'total', headDim]);
    g.output(GRAPH_OUTPUTS.presentValue(l), act, ['batch', numKvHeads, 'total', headDim]);
  }
  // What the host reads every step leaves in one tensor: on WebGPU each host-located output is its
  // own download and wait (a second one cost ~2 ms a step on an H100, BENCHMARKS.md). Greedy rows
  // need only their id: a [B, V] download per step costs more than the step at large B.
  const ho = g.withPrefix('/model/host_outputs');
  // Router selections [N, L*E] token-major (a top_k graph: one top-k over every layer's logits).
  const concat = L === 1 ? selections[0] : ho.node('Concat', selections, { axis: 1 });
  const masks = router.kind === 'top_k' ? topKSelection(ho, ho.node('Reshape', [concat, ho.constI64([0, L, E])], undefined, { name: 'PerLayer' }), router.k, 'float32') : concat;
  // One row per last_index entry, as the greedy ids (a caller reading every position gets one token per row).
  const rowShape = ho.node('Concat', [ho.node('Shape', [GRAPH_INPUTS.lastIndex]), ho.constI64([-1])], { axis: 0 });
  const greedy = ho.node('Unsqueeze', [makeGreedyIds(g.withPrefix('/lm_head/greedy'), logits, arch.vocabSize), ho.constI64([1])]);
  g.output(GRAPH_OUTPUTS.hostOutputs, 'float32', ['rows', 'host_columns'], ho.node('Concat', [greedy, ho.node('Reshape', [masks, rowShape], undefined, { name: 'PerRow' })], { axis: 1 }));
  // The same ids as the next step's input_ids, for decode steps that run ahead of the host. The Cast
  // is the last op: ORT places small int64 ops on the CPU, which would copy them to the host mid-step.
  g.output(GRAPH_OUTPUTS.nextIds, 'int64', ['rows', 1], g.node('Cast', [greedy], { to: 7 }, { name: '/lm_head/greedy/NextIds' }));
}

/**
 * ArgMax of [B, V] logits (lowest id on ties) in float ops only, so a GPU computes it whole and
 * only the [B] ids cross to the host. WebGPU's ArgMax gives each output one invocation that walks
 * the whole axis (one row of 151,936 logits: ~15 ms on an H100), and its int64 results feed ops
 * WebGPU does not run: the two-stage ArgMax this replaces copied every chunk's argmax ([B, V/C]
 * int64) to the host mid-step. Here: the row max from chunk maxima, then the lowest id equal to it
 * (V - 1 where none is, e.g. NaN logits). The ids stay fp32 (exact up to 2^24) [B]: they leave in
 * host_outputs beside the expert masks.
 */
export function makeGreedyIds(s: GraphScope, logits: string, V: number): string {
  const C = [256, 128, 64, 32, 16].find((c) => V % c === 0 && V / c >= c);
  if (!C) return s.node('Cast', [s.node('ArgMax', [logits], { axis: 1, keepdims: 0, select_last_index: 0 })], { to: 1 });
  const chunks = s.node('Reshape', [logits, s.constI64([0, V / C, C])], undefined, { name: 'Chunks' });
  const chunkMax = s.node('ReduceMax', [chunks], { axes: [2], keepdims: 0 }, { name: 'ChunkMax' });
  const rowMax = s.node('ReduceMax', [chunkMax], { axes: [1], keepdims: 1 }, { name: 'RowMax' });
  const isMax = s.node('Equal', [chunks, s.node('Unsqueeze', [rowMax, s.constI64([2])])], undefined, { name: 'IsMax' });
  // Range of constants: ORT folds it into an initializer at load, and the graph file stays small.
  const iota = s.node('Reshape', [s.node('Range', [s.constF32(0), s.constF32(V), s.constF32(1)]), s.constI64([V / C, C])], undefined, { name: 'Ids' });
  const ids = s.node('Where', [isMax, iota, s.constF32(V - 1)], undefined, { name: 'MaxIds' });
  const inChunk = s.node('ReduceMin', [ids], { axes: [2], keepdims: 0 }, { name: 'InChunk' });
  return s.node('ReduceMin', [inChunk], { axes: [1], keepdims: 0 }, { name: 'Id' });
}
