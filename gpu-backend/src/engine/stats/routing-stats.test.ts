import { describe, it, expect } from 'vitest';
import { RoutingStatsSchema } from '../../../../shared/openai/responses.ts';
import { RoutingStatsAccumulator, stepExpertsPerLayer } from './routing-stats.ts';

// Two layers, three experts; masks are [L, E] per token.
const L = 2;
const E = 3;
const mask = (...rows: number[][]) => Uint8Array.from(rows.flat());

describe('RoutingStatsAccumulator', () => {
  it('averages prompt and completion apart, per layer and overall, with counts when full', () => {
    const acc = new RoutingStatsAccumulator(L, E);
    acc.addToken(mask([1, 1, 0], [1, 0, 0]), 0, 'prompt'); // 2 + 1
    acc.addToken(mask([0, 1, 1], [1, 1, 1]), 0, 'prompt'); // 2 + 3
    const step = mask([9, 9, 9], [9, 9, 9], [1, 0, 0], [0, 0, 1]); // token at offset 6 of a larger mask
    acc.addToken(step, 6, 'completion');
    const usage = acc.toUsage({ strategy: 'ban', topK: 3, stats: 'full', profile: 'p' });
    expect(RoutingStatsSchema.parse(usage)).toEqual(usage);
    expect(usage.per_layer).toEqual({ prompt: [2, 2], completion: [1, 1] });
    expect(usage.experts_per_token).toEqual({ prompt: 2, completion: 1, overall: 10 / 6 });
    expect(usage.tokens).toEqual({ prompt: 2, completion: 1 });
    expect(usage.counts).toEqual({ prompt: [[1, 2, 1], [2, 1, 1]], completion: [[1, 0, 0], [0, 0, 1]] });
    expect(usage.profile).toBe('p');
  });

  it('leaves counts out for summary stats and reports zeros before any token', () => {
    const usage = new RoutingStatsAccumulator(L, E).toUsage({ strategy: 'top_k', topK: 2, stats: 'summary' });
    expect(usage.counts).toBeUndefined();
    expect(usage.experts_per_token).toEqual({ prompt: 0, completion: 0, overall: 0 });
  });
});

describe('stepExpertsPerLayer', () => {
  it('averages over every token of every row', () => {
    const rowA = mask([1, 1, 1], [1, 0, 0]);
    const rowB = mask([1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]);
    expect(stepExpertsPerLayer([rowA, rowB], L, E)).toEqual([4 / 3, 1]);
    expect(stepExpertsPerLayer([], L, E)).toEqual([0, 0]);
  });
});
