import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelInfoSchema } from '../../../shared/openai/responses.ts';
import type { Manifest } from '../model/contract.ts';
import { buildModelInfo, listProfiles } from './model-info.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-model-info-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifest = {
  modelId: 'tiny',
  architecture: { modelType: 'qwen2_moe', numLayers: 3, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16, numExperts: 16, numExpertsPerTok: 4, moeIntermediateSize: 32, sharedExpertIntermediateSize: 64, vocabSize: 151936, maxPositionEmbeddings: 4096, ropeTheta: 1e6, rmsNormEps: 1e-6, normTopkProb: false },
  weights: { dtype: 'int4' },
  routing: { strategies: ['top_k', 'ban'], defaultTopK: 4, maxTopK: 8, lambdaRange: [0, 1], tauRange: [0, 1] },
  profilesDir: 'profiles',
} as unknown as Manifest;

describe('model info', () => {
  it('lists the JSON profiles stored with the model, and none when the folder is missing', async () => {
    expect(await listProfiles(dir, manifest)).toEqual([]);
    mkdirSync(join(dir, 'profiles'));
    for (const f of ['math.json', 'fiction.json', 'notes.txt']) writeFileSync(join(dir, 'profiles', f), '{}');
    expect(await listProfiles(dir, manifest)).toEqual(['fiction', 'math']);
  });

  it('builds a /v1/models entry with architecture numbers and routing limits', () => {
    const info = ModelInfoSchema.parse(buildModelInfo(manifest, ['fiction'], 1700000000));
    expect(info.routing).toEqual({ num_layers: 3, num_experts: 16, default_top_k: 4, max_top_k: 8, strategies: ['top_k', 'ban'], profiles: ['fiction'], renormalize_default: false });
    expect(info.architecture).toMatchObject({ num_layers: 3, num_experts: 16, num_experts_per_tok: 4, context_length: 4096, weight_dtype: 'int4' });
    expect(info).toMatchObject({ id: 'tiny', object: 'model', created: 1700000000 });
  });
});
