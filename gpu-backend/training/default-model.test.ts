import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { openSource } from '../src/convert/source.ts';

/** The committed default model: what the converter and the tokenizer on the serving side will load. */
const MODEL_DIR = 'gpu-backend/default-model';
const readJson = (file: string) => JSON.parse(readFileSync(join(MODEL_DIR, file), 'utf8'));

function safetensorsHeader(file: string): Record<string, { dtype: string; shape: number[] }> {
  const bytes = readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const { __metadata__: _meta, ...tensors } = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  return tensors;
}

describe('default model checkpoint', () => {
  it('passes the converter source checks with a routing-capable Qwen2MoE architecture', () => {
    const source = openSource(MODEL_DIR);
    expect(source.arch.modelType).toBe('qwen2_moe');
    expect(source.arch.numExperts).toBeGreaterThanOrEqual(16);
    expect(source.arch.numExpertsPerTok).toBe(4);
    expect(source.arch.sharedExpertIntermediateSize).toBeGreaterThan(0);
    expect(source.arch.normTopkProb).toBe(false);
    expect(source.sourceDtypes).toEqual(['BF16']);
  });

  it('stores per-expert weights, q/k/v biases and the shared-expert gate of every layer', () => {
    const config = readJson('config.json');
    const tensors = safetensorsHeader(join(MODEL_DIR, 'model.safetensors'));
    for (let l = 0; l < config.num_hidden_layers; l++) {
      const layer = `model.layers.${l}`;
      for (const p of ['q', 'k', 'v']) expect(tensors[`${layer}.self_attn.${p}_proj.bias`]).toBeDefined();
      expect(tensors[`${layer}.mlp.shared_expert_gate.weight`].shape).toEqual([1, config.hidden_size]);
      expect(tensors[`${layer}.mlp.gate.weight`].shape).toEqual([config.num_experts, config.hidden_size]);
      for (let e = 0; e < config.num_experts; e++) {
        expect(tensors[`${layer}.mlp.experts.${e}.gate_proj.weight`].shape).toEqual([config.moe_intermediate_size, config.hidden_size]);
        expect(tensors[`${layer}.mlp.experts.${e}.down_proj.weight`].shape).toEqual([config.hidden_size, config.moe_intermediate_size]);
      }
    }
    expect(tensors['lm_head.weight'].shape).toEqual([config.vocab_size, config.hidden_size]);
  });

  it('stays under 32 MB on disk', () => {
    const bytes = readdirSync(MODEL_DIR).reduce((n, f) => n + statSync(join(MODEL_DIR, f)).size, 0);
    expect(bytes).toBeLessThan(32_000_000);
  });
});

describe('default model tokenizer', () => {
  const tokenizerConfig = readJson('tokenizer_config.json');
  const tokenizer = new Tokenizer(readJson('tokenizer.json'), tokenizerConfig);

  it('round-trips English and non-Brown text through the byte-level BPE', () => {
    for (const text of ['The Fulton County Grand Jury said Friday an investigation.', 'Hello world! 你好 🌍 café', "It's 1,200 \"quoted\" -- words.\nNext line."]) {
      const ids = tokenizer.encode(text).ids;
      expect(ids.every((id) => id >= 0 && id < readJson('config.json').vocab_size)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('renders the ChatML template with the special tokens as single ids matching generation_config eos', () => {
    const prompt = new Template(tokenizerConfig.chat_template).render({ messages: [{ role: 'user', content: 'Hi there.' }], add_generation_prompt: true });
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    const { ids, tokens } = tokenizer.encode(prompt);
    const imStart = ids[tokens.indexOf('<|im_start|>')];
    const imEnd = ids[tokens.indexOf('<|im_end|>')];
    expect(tokens.filter((t) => t === '<|im_start|>')).toHaveLength(3);
    expect(readJson('generation_config.json').eos_token_id).toEqual([imEnd, tokenizer.encode('<|endoftext|>').ids[0]]);
    expect(imStart).not.toBe(imEnd);
  });
});
