import { describe, it, expect } from 'vitest';
import { RoutingSchema, checkRoutingBounds, resolveRouting, keyExpertMask, type RoutingLimits } from './index.ts';
import { ChatCompletionRequestSchema, describeZodError } from '../openai/index.ts';

const limits: RoutingLimits = { num_layers: 4, num_experts: 8, default_top_k: 2, max_top_k: 4, strategies: ['top_k', 'pick', 'ban', 'pick_and_ban'], profiles: ['fiction'], renormalize_default: false };

describe('routing schema', () => {
  it('rejects unknown fields and names them', () => {
    const r = ChatCompletionRequestSchema.safeParse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], routing: { strategy: 'ban', tauu: 0.5 } });
    expect(r.success).toBe(false);
    expect(describeZodError(r.error!).param).toBe('routing.tauu');
  });
  it('keeps unknown standard OpenAI fields', () => {
    const r = ChatCompletionRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], logprobs: false, frequency_penalty: 0 });
    expect(r).toHaveProperty('frequency_penalty', 0);
  });
  it('rejects tau outside [0, 1] with its param', () => {
    const r = RoutingSchema.safeParse({ tau: 1.5 });
    expect(describeZodError(r.error!).param).toBe('tau');
  });
  it('checks ids and layers against the model', () => {
    expect(checkRoutingBounds({ strategy: 'pick', key_experts: { '1': [2, 9] } }, limits)).toMatchObject({ param: 'routing.key_experts.1[1]' });
    expect(checkRoutingBounds({ strategy: 'pick', key_experts: { '4': [0] } }, limits)).toMatchObject({ param: 'routing.key_experts.4' });
    expect(checkRoutingBounds({ top_k: 5 }, limits)).toMatchObject({ param: 'routing.top_k' });
    expect(checkRoutingBounds({ strategy: 'ban_and_pick' }, limits)).toMatchObject({ param: 'routing.strategy' });
    expect(checkRoutingBounds({ profile: 'nope' }, limits)).toMatchObject({ param: 'routing.profile' });
    expect(checkRoutingBounds({ strategy: 'pick', key_experts: { '*': [7], '3': [0] } }, limits)).toBeNull();
  });
});

describe('routing resolution', () => {
  it('adds a layer\'s ids to "*"', () => {
    const m = keyExpertMask({ '*': [1], '2': [5] }, 4, 8);
    expect([...m.keys()].filter((i) => m[i])).toEqual([1, 9, 17, 21, 25]);
  });
  it('layers request over profile over defaults', () => {
    const profile = { name: 'fiction', key_experts: { '0': [3] }, defaults: { strategy: 'pick' as const, lambda: 0.4, top_k: 3 } };
    const r = resolveRouting({ profile: 'fiction', lambda: 0.7, key_experts: { '0': [4] } }, limits, profile);
    expect(r).toMatchObject({ strategy: 'pick', lambda: 0.7, tau: 0.9, topK: 3, minExperts: 1, renormalize: false });
    expect([...r.keyExpertMask.slice(0, 8)]).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
  });
  it('ignores key experts for strategies that have none', () => {
    const r = resolveRouting({ strategy: 'ban' }, limits, { name: 'x', key_experts: { '*': [1] } });
    expect(r.keyExpertMask.every((v) => v === 0)).toBe(true);
  });
});
