import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/openai/errors.ts';
import type { RoutingLimits } from '../../../shared/routing/schema.ts';
import { BAD_INPUTS, badBody, validChat, validCompletion } from './bad-inputs.fixture.ts';
import { mapRequest, samplingDefaults, type MappingContext } from './mapping.ts';
import { profileLoader } from './profiles.ts';

const limits: RoutingLimits = { num_layers: 4, num_experts: 8, default_top_k: 2, max_top_k: 4, strategies: ['top_k', 'pick', 'ban', 'pick_and_ban'], profiles: ['fiction'], renormalize_default: false };
const profilesDir = mkdtempSync(join(tmpdir(), 'pickban-profiles-'));
mkdirSync(profilesDir, { recursive: true });
writeFileSync(join(profilesDir, 'fiction.json'), JSON.stringify({ name: 'fiction', defaults: { strategy: 'pick', tau: 0.5 }, key_experts: { '*': [1] } }));
const ctx: MappingContext = { modelId: 'tiny', limits, contextLength: 512, defaultMaxTokens: 64, samplingDefaults: { temperature: 1, topP: 1 }, loadProfile: profileLoader(profilesDir) };

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('mapRequest', () => {
  it.each(BAD_INPUTS)('$name -> 400 naming $param', async (input) => {
    const err = await refusal(mapRequest(input.endpoint, badBody(input, 'tiny'), ctx, 'r1'));
    expect(err.status).toBe(400);
    expect(err.param).toBe(input.param);
    expect(err.message).not.toBe('');
  });

  it('answers 404 for another model', async () => {
    const err = await refusal(mapRequest('chat', validChat('gpt-4o'), ctx, 'r1'));
    expect([err.status, err.param, err.code]).toEqual([404, 'model', 'model_not_found']);
  });

  it('applies OpenAI defaults and ignores unknown standard fields', async () => {
    const m = await mapRequest('chat', { ...validChat('tiny'), frequency_penalty: 0.5, logprobs: false, response_format: { type: 'text' } }, ctx, 'r1');
    expect(m).toMatchObject({ stream: false, includeUsage: false, model: 'tiny' });
    expect(m.generation.sampling).toEqual({ temperature: 1, topP: 1, topK: 0, seed: undefined, maxTokens: 64, stop: [] });
    expect(m.generation.messages).toEqual([{ role: 'user', content: 'Hello' }]);
    expect(m.generation.routing).toMatchObject({ strategy: 'top_k', topK: 2, stats: 'summary' });
  });

  it("takes the model's generation defaults for omitted sampling fields", async () => {
    const model = { ...ctx, samplingDefaults: samplingDefaults({ temperature: 0.7, top_p: 0.8, top_k: 20 }) };
    expect((await mapRequest('chat', validChat('tiny'), model, 'r')).generation.sampling).toMatchObject({ temperature: 0.7, topP: 0.8 });
    expect((await mapRequest('chat', { ...validChat('tiny'), temperature: 0, top_p: null }, model, 'r')).generation.sampling).toMatchObject({ temperature: 0, topP: 0.8 });
    expect(samplingDefaults({ temperature: 'hot' })).toEqual({ temperature: 1, topP: 1 });
  });

  it('prefers max_completion_tokens, accepts a single stop string, maps content parts and roles', async () => {
    const m = await mapRequest(
      'chat',
      {
        model: 'tiny',
        messages: [{ role: 'developer', content: [{ type: 'text', text: 'Be ' }, { type: 'text', text: 'brief' }] }, { role: 'user', content: null }],
        max_tokens: 100,
        max_completion_tokens: 7,
        stop: '\n',
        temperature: 0,
        seed: 42,
        stream: true,
        stream_options: { include_usage: true },
      },
      ctx,
      'r2',
    );
    expect(m.generation.sampling).toMatchObject({ maxTokens: 7, stop: ['\n'], temperature: 0, seed: 42 });
    expect(m.generation.messages).toEqual([{ role: 'system', content: 'Be brief' }, { role: 'user', content: '' }]);
    expect(m).toMatchObject({ stream: true, includeUsage: true });
  });

  it("bounds the default max_tokens by the edge's key cap, never an explicit one", async () => {
    expect((await mapRequest('chat', validChat('tiny'), ctx, 'r', 20)).generation.sampling.maxTokens).toBe(20);
    expect((await mapRequest('chat', validChat('tiny'), ctx, 'r', 1000)).generation.sampling.maxTokens).toBe(64);
    expect((await mapRequest('chat', { ...validChat('tiny'), max_tokens: 50 }, ctx, 'r', 20)).generation.sampling.maxTokens).toBe(50);
  });

  it('takes a one-element prompt array as the prompt', async () => {
    const m = await mapRequest('completion', { ...validCompletion('tiny'), prompt: ['abc'] }, ctx, 'r3');
    expect(m.generation.prompt).toBe('abc');
    expect(m.generation.messages).toBeUndefined();
  });

  it('resolves a stored profile under the request fields', async () => {
    const m = await mapRequest('chat', { ...validChat('tiny'), routing: { profile: 'fiction', tau: 0.8, key_experts: { '2': [5] }, stats: 'full' } }, ctx, 'r4');
    const r = m.generation.routing;
    expect(r).toMatchObject({ strategy: 'pick', tau: 0.8, profile: 'fiction', stats: 'full' });
    const keys = (layer: number) => [...r.keyExpertMask.subarray(layer * 8, layer * 8 + 8)].flatMap((v, e) => (v ? [e] : []));
    expect([keys(0), keys(2)]).toEqual([[1], [1, 5]]);
  });
});
