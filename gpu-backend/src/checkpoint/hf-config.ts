import { z } from 'zod';
import type { Architecture } from '../model/contract.ts';

/**
 * The Hugging Face Qwen2MoE config.json: the fields transformers reads, which of their values the
 * graph supports, and the mapping onto the manifest's Architecture. Unknown fields pass through
 * (real configs carry many); fields that would change the math and that the graph does not
 * implement are rejected rather than ignored.
 */

const posInt = z.number().int().positive();

export const Qwen2MoeConfigSchema = z.looseObject({
  model_type: z.literal('qwen2_moe', { error: (i) => `model_type must be "qwen2_moe", got ${JSON.stringify(i.input)}` }),
  architectures: z
    .array(z.string())
    .refine((a) => a.includes('Qwen2MoeForCausalLM'), { error: 'architectures must include "Qwen2MoeForCausalLM"' })
    .optional(),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.optional(),
  head_dim: posInt.optional(),
  hidden_act: z.literal('silu', { error: (i) => `hidden_act ${JSON.stringify(i.input)} is not supported (only "silu")` }).default('silu'),
  max_position_embeddings: posInt,
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.null({ error: 'rope_scaling is not supported (only plain RoPE)' }).optional(),
  rope_parameters: z
    .looseObject({ rope_type: z.literal('default', { error: 'rope_parameters.rope_type must be "default"' }).optional(), rope_theta: z.number().positive().optional() })
    .nullable()
    .optional(),
  tie_word_embeddings: z.literal(false, { error: 'tie_word_embeddings=true is not supported (the graph reads lm_head.weight)' }).default(false),
  use_sliding_window: z.literal(false, { error: 'use_sliding_window=true is not supported (full attention only)' }).default(false),
  qkv_bias: z.literal(true, { error: 'qkv_bias=false is not supported (Qwen2MoE has q/k/v biases)' }).optional(),
  decoder_sparse_step: z.literal(1, { error: (i) => `decoder_sparse_step=${i.input} is not supported (every layer must be MoE: 1)` }).default(1),
  mlp_only_layers: z.array(z.number()).max(0, { error: 'mlp_only_layers must be empty (every layer must be MoE)' }).default([]),
  num_experts: posInt,
  num_experts_per_tok: posInt,
  moe_intermediate_size: posInt,
  shared_expert_intermediate_size: z.number().int().nonnegative(),
  norm_topk_prob: z.boolean().default(false),
  bos_token_id: z.number().int().nullable().optional(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullable().optional(),
  pad_token_id: z.number().int().nullable().optional(),
});
export type Qwen2MoeConfig = z.infer<typeof Qwen2MoeConfigSchema>;

export class ConfigFieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFieldError';
  }
}

/** Validates a parsed config.json; throws ConfigFieldError with one line naming file and field. */
export function parseQwen2MoeConfig(raw: unknown, file = 'config.json'): Qwen2MoeConfig {
  const result = Qwen2MoeConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue.path.join('.') || '(root)';
    throw new ConfigFieldError(`${file}: ${field}: ${issue.message}`);
  }
  const c = result.data;
  const kvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  const fail = (msg: string) => {
    throw new ConfigFieldError(`${file}: ${msg}`);
  };
  if (c.num_attention_heads % kvHeads !== 0) fail(`num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
  if (c.head_dim === undefined && c.hidden_size % c.num_attention_heads !== 0) fail(`hidden_size (${c.hidden_size}) must be a multiple of num_attention_heads (${c.num_attention_heads})`);
  if (headDimOf(c) % 2 !== 0) fail(`head_dim (${headDimOf(c)}) must be even for RoPE`);
  if (c.num_experts_per_tok > c.num_experts) fail(`num_experts_per_tok (${c.num_experts_per_tok}) exceeds num_experts (${c.num_experts})`);
  if (ropeThetaOf(c) === undefined) fail('rope_theta: missing (neither rope_theta nor rope_parameters.rope_theta is set)');
  return c;
}

const headDimOf = (c: Qwen2MoeConfig) => c.head_dim ?? c.hidden_size / c.num_attention_heads;
const ropeThetaOf = (c: Qwen2MoeConfig) => c.rope_parameters?.rope_theta ?? c.rope_theta;

export function architectureOf(c: Qwen2MoeConfig): Architecture {
  return {
    modelType: 'qwen2_moe',
    numLayers: c.num_hidden_layers,
    hiddenSize: c.hidden_size,
    numHeads: c.num_attention_heads,
    numKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: headDimOf(c),
    numExperts: c.num_experts,
    numExpertsPerTok: c.num_experts_per_tok,
    moeIntermediateSize: c.moe_intermediate_size,
    sharedExpertIntermediateSize: c.shared_expert_intermediate_size,
    vocabSize: c.vocab_size,
    maxPositionEmbeddings: c.max_position_embeddings,
    ropeTheta: ropeThetaOf(c)!,
    rmsNormEps: c.rms_norm_eps,
    normTopkProb: c.norm_topk_prob,
  };
}
