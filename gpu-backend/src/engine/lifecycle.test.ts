import { describe, it, expect, beforeAll } from 'vitest';
import { getTinyModel } from '../testing/tiny-model.ts';
import { createEngine, type PickBanEngine } from './core.ts';
import { collect, request, routing } from './testing.ts';
import type { EngineLimits } from './types.ts';

const limits: EngineLimits = { maxRunningSeqs: 4, maxQueuedSeqs: 4, maxKvTokens: 4096, maxPrefillChunk: 32, maxBatchTokens: 64 };
let modelDir: string;
beforeAll(async () => {
  ({ modelDir } = await getTinyModel());
});

describe('engine lifecycle', () => {
  it('a failed step ends its requests with an error event and frees them; the engine keeps serving', async () => {
    const engine = (await createEngine({ modelDir, limits })) as PickBanEngine;
    const { numLayers: L, numExperts: E } = engine.manifest.architecture;
    // Fault injection: the next model run fails as a broken graph or a lost device would.
    const runner = (engine as unknown as { runner: { execute: (...a: unknown[]) => Promise<unknown> } }).runner;
    const execute = runner.execute.bind(runner);
    runner.execute = async () => {
      runner.execute = execute;
      throw new Error('device lost');
    };
    const failed = await collect(await engine.submit(request(routing(L, E), { maxTokens: 4 })));
    expect(failed.error).toMatch(/device lost/);
    expect(failed.finishReason).toBeNull();
    const ok = await collect(await engine.submit(request(routing(L, E), { maxTokens: 4 })));
    expect(ok.finishReason).toBe('length');
    await engine.step(); // a finished sequence's KV is freed at the next step
    expect(engine.snapshot()).toMatchObject({ running: 0, queued: 0, kvTokensUsed: 0 });
    expect(engine.kvTokensHeld).toBe(0);
    expect(engine.snapshot().expertsPerTokenByLayer).toHaveLength(L);
    await engine.shutdown(0);
  });

  it('shutdown stops admitting, ends streams past the grace period, and is no longer ready', async () => {
    const engine = await createEngine({ modelDir, limits });
    const { numLayers: L, numExperts: E } = engine.manifest.architecture;
    const long = collect(await engine.submit(request(routing(L, E), { maxTokens: 2000 })));
    const done = engine.shutdown(100);
    await expect(engine.submit(request(routing(L, E)))).rejects.toMatchObject({ status: 429 });
    await done;
    expect((await long).finishReason).toBe('abort');
    expect(engine.ready).toBe(false);
  });
});
