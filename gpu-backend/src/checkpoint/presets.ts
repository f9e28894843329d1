/** Checkpoint shapes the generator knows. Overrides from the CLI apply on top. */

export interface CheckpointShape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  experts: number;
  topK: number;
  moeIntermediate: number;
  sharedIntermediate: number;
  /** Dense intermediate_size: unused by an all-MoE model, but transformers reads it. */
  intermediate: number;
  maxPositions: number;
  dtype: 'fp32' | 'bf16';
  /** Shard when the tensors exceed this many bytes (HF's default save shard size is 5 GB; Qwen's files are ~4 GB). */
  maxShardBytes: number;
}

export const PRESETS = {
  // Small enough to generate, convert and run in tests in seconds; every structural feature of the
  // real model is present (GQA, shared expert, top-k of several experts).
  tiny: {
    layers: 3, hidden: 64, heads: 4, kvHeads: 2, experts: 16, topK: 4, moeIntermediate: 32, sharedIntermediate: 64,
    intermediate: 128, maxPositions: 4096, dtype: 'fp32', maxShardBytes: Infinity,
  },
  // Qwen1.5-MoE-A2.7B's published shape.
  'a2.7b': {
    layers: 24, hidden: 2048, heads: 16, kvHeads: 16, experts: 60, topK: 4, moeIntermediate: 1408, sharedIntermediate: 5632,
    intermediate: 5632, maxPositions: 8192, dtype: 'bf16', maxShardBytes: 4e9,
  },
} satisfies Record<string, CheckpointShape>;
export type PresetName = keyof typeof PRESETS;

/** The real Qwen vocabulary size, padded past the tokenizer's 151,669 tokens as Qwen's checkpoints are. */
export const QWEN_VOCAB_SIZE = 151936;
