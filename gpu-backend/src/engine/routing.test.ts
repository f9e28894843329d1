import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTinyModel } from '../testing/tiny-model.ts';
import { createEngine } from './core.ts';
import { collect, request, routing } from './testing.ts';
import type { Engine } from './types.ts';

// Pick & Ban through the whole engine: the statistics come from the graph's expert_mask.
let engine: Engine;
let L = 0;
let E = 0;
let strategies: string[] = [];

beforeAll(async () => {
  const { modelDir } = await getTinyModel();
  engine = await createEngine({ modelDir, limits: { maxRunningSeqs: 4, maxQueuedSeqs: 4, maxKvTokens: 2048, maxPrefillChunk: 64, maxBatchTokens: 128 }, threads: 2 });
  ({ numLayers: L, numExperts: E } = engine.manifest.architecture);
  strategies = engine.manifest.routing.strategies;
});
afterAll(() => engine?.shutdown(0));

const run = async (r: ReturnType<typeof routing>) => (await collect(await engine.submit(request(r, { maxTokens: 6 })))).usage!.routing;

describe('routing through the engine', () => {
  it('top_k selects exactly K experts for every token of every layer', async () => {
    const stats = await run(routing(L, E, { topK: 3 }));
    expect(stats.per_layer.prompt).toEqual(new Array(L).fill(3));
    expect(stats.experts_per_token.overall).toBe(3);
  });

  it('pick with key experts selects every key expert for every token of its layer', async (ctx) => {
    // Runs once the graph carries the Pick & Ban kernel (manifest.routing.strategies).
    if (!strategies.includes('pick')) ctx.skip();
    const keyExperts = { 0: [1, 2], [L - 1]: [E - 1] };
    const stats = await run(routing(L, E, { strategy: 'pick', keyExperts, lambda: 0.3, topK: 4, stats: 'full' }));
    for (const kind of ['prompt', 'completion'] as const) {
      const tokens = stats.tokens[kind];
      expect(tokens).toBeGreaterThan(0);
      for (const [layer, ids] of Object.entries(keyExperts)) for (const e of ids) expect(stats.counts![kind][Number(layer)][e]).toBe(tokens);
    }
  });

  it('ban with a low tau lowers experts per token below top-k, never below min_experts', async (ctx) => {
    if (!strategies.includes('ban')) ctx.skip();
    const stats = await run(routing(L, E, { strategy: 'ban', tau: 0.05, topK: 4, minExperts: 1 }));
    expect(stats.experts_per_token.overall).toBeLessThan(4);
    expect(Math.min(...stats.per_layer.prompt, ...stats.per_layer.completion)).toBeGreaterThanOrEqual(1);
  });
});
