import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGenerateArgs } from './cli.ts';
import { generateCheckpoint, generateTensor } from './generator.ts';
import { architectureOf, parseQwen2MoeConfig } from './hf-config.ts';
import { PRESETS, QWEN_VOCAB_SIZE } from './presets.ts';
import { Checkpoint } from './safetensors-reader.ts';
import { expectedTensors, layerNames } from './tensor-names.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-gen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const small = { ...PRESETS.tiny, layers: 1, experts: 8, topK: 2 };

describe('checkpoint generator', () => {
  it('writes an HF Qwen2MoE directory whose config transformers would read and whose tensors match it', () => {
    const files = generateCheckpoint({ outDir: dir, shape: small, seed: 7 });
    expect(files).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'qwen2_moe', architectures: ['Qwen2MoeForCausalLM'], num_experts: 8, num_experts_per_tok: 2,
      decoder_sparse_step: 1, mlp_only_layers: [], norm_topk_prob: false, rope_theta: 1e6, rms_norm_eps: 1e-6,
      tie_word_embeddings: false, vocab_size: QWEN_VOCAB_SIZE, num_key_value_heads: 2,
    });
    const arch = architectureOf(parseQwen2MoeConfig(config));
    const ck = Checkpoint.open(dir);
    const expected = expectedTensors(arch);
    expect([...ck.tensors.keys()].sort()).toEqual(expected.map((t) => t.name).sort());
    for (const t of expected) expect(ck.info(t.name).shape).toEqual(t.shape);
    expect(JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')).chat_template).toContain('<|im_start|>');
  });

  it('is deterministic per seed and tensor name, and differs across seeds', () => {
    const arch = architectureOf(parseQwen2MoeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))));
    const q = expectedTensors(arch).find((t) => t.name === layerNames(0).q)!;
    const stored = Checkpoint.open(dir).readFloat32(q.name);
    expect(Array.from(generateTensor(q, 7, arch.numExperts))).toEqual(Array.from(stored));
    expect(generateTensor(q, 8, arch.numExperts)[0]).not.toBe(stored[0]);
    // std ~ 1/sqrt(fan_in) keeps activations O(1) through the layers.
    const std = Math.sqrt(stored.reduce((a, v) => a + v * v, 0) / stored.length);
    expect(std).toBeGreaterThan(0.8 / Math.sqrt(q.fanIn!));
    expect(std).toBeLessThan(1.2 / Math.sqrt(q.fanIn!));
  });

  it('gives the router a spread: per-expert logit scales differ, so some experts win more often', () => {
    const ck = Checkpoint.open(dir);
    const gate = ck.readFloat32(layerNames(0).router);
    const H = small.hidden;
    const rowNorms = Array.from({ length: small.experts }, (_, e) => Math.hypot(...gate.subarray(e * H, (e + 1) * H)));
    // Logit std of a unit-RMS input is the row norm; a few units, and not all alike.
    expect(Math.max(...rowNorms) / Math.min(...rowNorms)).toBeGreaterThan(1.5);
    expect(rowNorms.reduce((a, b) => a + b) / rowNorms.length).toBeGreaterThan(1.5);
  });

  it('parses CLI overrides on top of a preset and rejects bad values', () => {
    const opts = parseGenerateArgs(['--out', '/x', '--preset', 'a2.7b', '--layers', '2', '--experts', '8', '--dtype', 'fp32']);
    expect(opts.shape).toMatchObject({ layers: 2, experts: 8, hidden: 2048, topK: 4, dtype: 'fp32', kvHeads: 16 });
    expect(() => parseGenerateArgs(['--out', '/x', '--preset', 'huge'])).toThrow(/--preset must be one of/);
    expect(() => parseGenerateArgs(['--out', '/x', '--layers', '0'])).toThrow(/--layers must be a positive integer/);
    expect(() => parseGenerateArgs(['--preset', 'tiny'])).toThrow(/--out/);
  });
});
