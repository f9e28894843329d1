import { z } from 'zod';
import { ROUTING_STRATEGIES } from '../../../shared/routing/schema.ts';

/**
 * The contract between the converter (which writes a model directory) and the runner (which loads it).
 * One place for the manifest schema and the graph's input/output names.
 *
 * Graph inputs (B = batch rows, S = new tokens per row this step, padded; P = past length, padded;
 * L = layers, E = experts, kvH = kv heads, D = head dim):
 *   input_ids            int64   [B, S]      padding rows/positions use token 0
 *   position_ids         int64   [B, S]      absolute positions (RoPE)
 *   attention_bias       float32 [B, 1, S, P+S]  additive: 0 = attend, -1e9 (finite, see below) = masked.
 *                        Every query row, padding included, must attend to at least one key (its own
 *                        position) so no row softmaxes to NaN.
 *   last_index           int64   [B]         flat index b*S + s of each row's position whose logits are wanted
 *   past_key.{l}         float32 [B, kvH, P, D]   (fp16 for fp16 models on GPU EPs: see manifest.kvDtype)
 *   past_value.{l}       float32 [B, kvH, P, D]
 *   route_strategy       int32   [B]         index into ROUTING_STRATEGIES
 *   route_key_mask       float32 [B, L, E]   1 = key expert of that layer
 *   route_lambda         float32 [B]
 *   route_tau            float32 [B]
 *   route_top_k          int32   [B]         1..manifest.routing.maxTopK
 *   route_min_experts    int32   [B]
 *   route_renormalize    bool    [B]
 *   route_layer_sensitivity float32 [B, L]   W'_l for ban_and_pick (0 otherwise)
 *   route_r_range        float32 [B, 2]      R_min, R_max for ban_and_pick (0 otherwise)
 * Graphs with GroupQueryAttention (manifest graphInfo attention 'gqa', GPU EPs) take instead of
 * attention_bias: every row computes S tokens (no padding), row b's past is positions [0, p_b) of
 * past_*, and present_* holds row b's p_b + S positions at [0, p_b + S):
 *   seqlens_k            int32   [B]         p_b + S - 1
 *   total_sequence_length int32  []          max_b (p_b + S)
 * Graph outputs:
 *   logits               float32 [B, V]       at last_index
 *   present_key.{l}      float32 [B, kvH, P+S, D]  = concat(past, new)
 *   present_value.{l}    float32 [B, kvH, P+S, D]
 *   host_outputs         float32 [R, 1 + (B*S/R)*L*E]  what the host reads every step, in one copy
 *                        (readHostOutputs); R = last_index's length (B when it names each row's last
 *                        position): column 0 the ArgMax of that logits row (lowest id on ties: greedy
 *                        rows need only this), then per token [L, E] 1 where the router selected the expert
 *   next_ids             int64   [R, 1]      column 0 of host_outputs: fed back as input_ids, greedy decode
 *                        steps run ahead of the host (the runner's executeAhead); input_ids has no other
 *                        reader than the embedding, so it may be a GPU tensor
 * A top_k graph (manifest topKGraphs, graphInfo router 'top_k') has no route_* inputs: it serves only
 * batches where every row routes top_k with k = num_experts_per_tok and renormalize = norm_topk_prob.
 */
export const GRAPH_INPUTS = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  attentionBias: 'attention_bias',
  lastIndex: 'last_index',
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  routeStrategy: 'route_strategy',
  routeKeyMask: 'route_key_mask',
  routeLambda: 'route_lambda',
  routeTau: 'route_tau',
  routeTopK: 'route_top_k',
  routeMinExperts: 'route_min_experts',
  routeRenormalize: 'route_renormalize',
  routeLayerSensitivity: 'route_layer_sensitivity',
  routeRRange: 'route_r_range',
  seqlensK: 'seqlens_k',
  totalSequenceLength: 'total_sequence_length',
} as const;

export const GRAPH_OUTPUTS = {
  logits: 'logits',
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
  hostOutputs: 'host_outputs',
  nextIds: 'next_ids',
} as const;

/** host_outputs of B rows of S tokens each, split: each row's greedy id, and the [B, S, L, E] expert mask. */
export function readHostOutputs(data: Float32Array, B: number, S: number, perToken: number): { greedyIds: Int32Array; expertMask: Uint8Array } {
  const stride = 1 + S * perToken;
  if (data.length !== B * stride) throw new Error(`host_outputs has ${data.length} values, expected ${B} rows of ${stride}`);
  const greedyIds = new Int32Array(B);
  const expertMask = new Uint8Array(B * S * perToken);
  for (let b = 0; b < B; b++) {
    greedyIds[b] = data[b * stride];
    expertMask.set(data.subarray(b * stride + 1, (b + 1) * stride), b * S * perToken);
  }
  return { greedyIds, expertMask };
}

/** Masked positions in attention_bias. Finite so that a fully masked row cannot turn into NaN. */
export const MASKED_BIAS = -1e9;

export const WEIGHT_DTYPES = ['fp32', 'fp16', 'int8', 'int4'] as const;
/** sdpa: standard ops with attention_bias (any batch layout); gqa: com.microsoft GroupQueryAttention. */
export const ATTENTION_KINDS = ['sdpa', 'gqa'] as const;
export type AttentionKind = (typeof ATTENTION_KINDS)[number];
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];
export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export const ArchitectureSchema = z.object({
  modelType: z.literal('qwen2_moe'),
  numLayers: z.number().int().positive(),
  hiddenSize: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numKvHeads: z.number().int().positive(),
  headDim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  numExpertsPerTok: z.number().int().positive(),
  moeIntermediateSize: z.number().int().positive(),
  sharedExpertIntermediateSize: z.number().int().nonnegative(),
  vocabSize: z.number().int().positive(),
  maxPositionEmbeddings: z.number().int().positive(),
  ropeTheta: z.number().positive(),
  rmsNormEps: z.number().positive(),
  normTopkProb: z.boolean(),
});
export type Architecture = z.infer<typeof ArchitectureSchema>;

export const ManifestSchema = z.object({
  format: z.literal('pickban-onnx'),
  version: z.literal(1),
  modelId: z.string(),
  architecture: ArchitectureSchema,
  weights: z.object({ dtype: z.enum(WEIGHT_DTYPES), blockSize: z.number().int().positive().optional() }),
  /** Graph file per execution provider the converter emitted a variant for (relative paths). */
  graphs: z.partialRecord(z.enum(EXECUTION_PROVIDERS), z.string()),
  /**
   * A second graph of an EP for large batches (the throughput operating point): same I/O, another MoE
   * formulation. The runner runs it for decode runs of at least minTokens rows, `graphs[ep]` otherwise.
   */
  throughputGraphs: z.partialRecord(z.enum(EXECUTION_PROVIDERS), z.object({ file: z.string(), minTokens: z.number().int().positive() })).optional(),
  /**
   * A graph of an EP for batches where every row routes plain top_k at the model's k: no router
   * kernel (QMoE's own top-k), so fewer dispatches per step. The runner prefers it for such batches.
   */
  topKGraphs: z.partialRecord(z.enum(EXECUTION_PROVIDERS), z.object({ file: z.string() })).optional(),
  /**
   * How each graph file computes (MoE: If per expert, QMoE, or dense; attention: standard ops with a
   * bias, or GroupQueryAttention; router: the Pick & Ban kernel, or plain top_k inside QMoE).
   */
  graphInfo: z.record(z.string(), z.object({ moe: z.enum(['sparse', 'qmoe', 'dense']), attention: z.enum(ATTENTION_KINDS), router: z.enum(['kernel', 'top_k']).optional() })).optional(),
  kvDtype: z.enum(['float32', 'float16']),
  tokenizer: z.object({ file: z.string(), configFile: z.string() }),
  chatTemplate: z.string().nullable(),
  eosTokenIds: z.array(z.number().int()),
  padTokenId: z.number().int(),
  bosTokenId: z.number().int().nullable(),
  generationDefaults: z.record(z.string(), z.unknown()),
  routing: z.object({
    strategies: z.array(z.enum(ROUTING_STRATEGIES)),
    defaultTopK: z.number().int().positive(),
    maxTopK: z.number().int().positive(),
    lambdaRange: z.tuple([z.number(), z.number()]),
    tauRange: z.tuple([z.number(), z.number()]),
  }),
  /** Routing profiles live in <modelDir>/profiles/<name>.json. */
  profilesDir: z.string(),
  source: z.record(z.string(), z.unknown()).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;
export const MANIFEST_FILE = 'manifest.json';
