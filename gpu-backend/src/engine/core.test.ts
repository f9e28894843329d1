import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTinyModel } from '../testing/tiny-model.ts';
import { createEngine, type PickBanEngine } from './core.ts';
import { collect, request, routing } from './testing.ts';
import { AdmissionError, type EngineLimits } from './types.ts';

const limits: EngineLimits = { maxRunningSeqs: 8, maxQueuedSeqs: 16, maxKvTokens: 4096, maxPrefillChunk: 5, maxBatchTokens: 24 };
let engine: PickBanEngine;
let L = 0;
let E = 0;

beforeAll(async () => {
  const { modelDir } = await getTinyModel();
  engine = (await createEngine({ modelDir, limits, threads: 2 })) as PickBanEngine;
  ({ numLayers: L, numExperts: E } = engine.manifest.architecture);
});
afterAll(() => engine?.shutdown(0));

// Different lengths against maxPrefillChunk 5: the long one is still prefilling (in chunks, in its
// own sub-batch) while the short ones decode.
const prompts = ['Once upon a time', 'The capital of France is', '你好，世界！请告诉我', 'Write a long essay about the history of the Roman Empire, its emperors and its fall.'];

describe('engine on the tiny model', () => {
  it('is ready after load and describes the model', () => {
    expect(engine.ready).toBe(true);
    const info = engine.modelInfo();
    expect(info.routing).toMatchObject({ num_layers: L, num_experts: E, default_top_k: engine.manifest.routing.defaultTopK });
    expect(info.architecture).toMatchObject({ num_layers: L, vocab_size: engine.manifest.architecture.vocabSize });
  });

  it('N parallel greedy requests give the same text as each alone (chunked prefill mixed with decode)', async () => {
    const make = (p: string, i: number) => request(routing(L, E), { prompt: p, maxTokens: 10 + i });
    const alone = [];
    for (const [i, p] of prompts.entries()) alone.push(await collect(await engine.submit(make(p, i))));
    const together = await Promise.all(prompts.map(async (p, i) => collect(await engine.submit(make(p, i)))));
    expect(together.map((c) => c.tokenIds)).toEqual(alone.map((c) => c.tokenIds));
    expect(together.map((c) => c.text)).toEqual(alone.map((c) => c.text));
    expect(alone.every((c) => c.finishReason === 'length' || c.finishReason === 'stop')).toBe(true);
    expect(alone[0].usage!.completion_tokens).toBe(alone[0].tokenIds.length);
  });

  it('mixed routing in one batch gives the same per-request statistics as alone', async () => {
    const rs = [
      routing(L, E, { topK: 1, stats: 'full' }),
      routing(L, E, { topK: 8, stats: 'full' }),
      routing(L, E, { strategy: 'ban', tau: 0.3, topK: 6, stats: 'full' }),
      routing(L, E, { strategy: 'pick', keyExperts: { 0: [3] }, lambda: 0.2, stats: 'full' }),
      routing(L, E, { strategy: 'pick_and_ban', keyExperts: { 1: [0, 5] }, tau: 0.5, stats: 'full' }),
    ];
    const make = (i: number) => request(rs[i], { prompt: prompts[i % prompts.length], maxTokens: 6 });
    const alone = [];
    for (let i = 0; i < rs.length; i++) alone.push((await collect(await engine.submit(make(i)))).usage!.routing);
    const together = (await Promise.all(rs.map(async (_, i) => collect(await engine.submit(make(i)))))).map((c) => c.usage!.routing);
    expect(together).toEqual(alone);
    expect(alone.slice(0, 2).map((s) => s.experts_per_token.prompt)).toEqual([1, 8]);
    expect(alone[1].per_layer.completion).toEqual(new Array(L).fill(8));
    expect(alone.map((s) => s.strategy)).toEqual(['top_k', 'top_k', 'ban', 'pick', 'pick_and_ban']);
    expect(alone[0].tokens.completion).toBe(5); // 6 generated, the last never fed back
  });

  it('the same seed gives the same sampled text', async () => {
    const make = (seed: number) => request(routing(L, E), { temperature: 1, topP: 0.95, seed, maxTokens: 8 });
    const a = await collect(await engine.submit(make(11)));
    const b = await collect(await engine.submit(make(11)));
    const c = await collect(await engine.submit(make(12)));
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(c.tokenIds).not.toEqual(a.tokenIds);
  });

  it('stops before a stop string, split across tokens or not, and never emits it', async () => {
    const free = await collect(await engine.submit(request(routing(L, E), { maxTokens: 24 })));
    const stop = free.text.slice(Math.floor(free.text.length / 2), Math.floor(free.text.length / 2) + 3);
    expect(stop.length).toBe(3);
    const stopped = await collect(await engine.submit(request(routing(L, E), { maxTokens: 24, stop: [stop] })));
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
  });

  it('streams UTF-8-safe text that adds up to the decoded tokens', async () => {
    const c = await collect(await engine.submit(request(routing(L, E), { prompt: '日本語で🌍', temperature: 1, seed: 3, maxTokens: 40 })));
    const decoded = (engine as unknown as { tokenizer: { decode(ids: number[]): string } }).tokenizer.decode(c.tokenIds);
    // Had a delta carried half a character (as U+FFFD), the streamed text would differ from the
    // decode of all tokens, where that character is whole. (The random model may also emit truly
    // invalid byte sequences, which decode to U+FFFD either way.)
    expect(c.text).toBe(decoded);
    expect(c.deltas.length).toBeGreaterThan(5);
  });

  it('cancellation frees the sequence and its KV within one step', async () => {
    const ac = new AbortController();
    const events = await engine.submit(request(routing(L, E), { maxTokens: 200 }), ac.signal);
    const result = await collect(events, (n) => n === 2 && ac.abort());
    expect(result.finishReason).toBe('abort');
    await engine.step(); // at most one step later
    expect(engine.snapshot()).toMatchObject({ running: 0, queued: 0, kvTokensUsed: 0 });
    expect(engine.kvTokensHeld).toBe(0);
  });

  it('aborting one sequence mid-batch leaves the others\' text unchanged', async () => {
    const make = (p: string) => request(routing(L, E), { prompt: p, maxTokens: 12 });
    const alone = [];
    for (const p of prompts.slice(0, 3)) alone.push((await collect(await engine.submit(make(p)))).tokenIds);
    const ac = new AbortController();
    const victim = collect(await engine.submit(request(routing(L, E), { maxTokens: 200 }), ac.signal), (n) => n === 3 && ac.abort());
    const together = await Promise.all(prompts.slice(0, 3).map(async (p) => (await collect(await engine.submit(make(p)))).tokenIds));
    expect((await victim).finishReason).toBe('abort');
    expect(together).toEqual(alone);
  });

  it('a consumer that stops reading frees its sequence', async () => {
    const events = await engine.submit(request(routing(L, E), { maxTokens: 500 }));
    for await (const e of events) if (e.type === 'delta') break;
    await engine.step();
    expect(engine.snapshot()).toMatchObject({ running: 0, kvTokensUsed: 0 });
    expect(engine.kvTokensHeld).toBe(0);
  });

  it('rejects a prompt plus max_tokens beyond the context with 400 max_tokens', async () => {
    const ctx = engine.manifest.architecture.maxPositionEmbeddings;
    await expect(engine.submit(request(routing(L, E), { maxTokens: ctx }))).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
  });
});

describe('engine admission', () => {
  it('answers 429 with Retry-After when running and queue are full', async () => {
    const { modelDir } = await getTinyModel();
    const small = await createEngine({ modelDir, limits: { ...limits, maxRunningSeqs: 1, maxQueuedSeqs: 1 } });
    const r = routing(L, E);
    const ac = new AbortController();
    const first = await small.submit(request(r, { maxTokens: 30 }), ac.signal);
    const second = await small.submit(request(r, { maxTokens: 30 }), ac.signal);
    const third = small.submit(request(r, { maxTokens: 30 }));
    await expect(third).rejects.toBeInstanceOf(AdmissionError);
    await expect(third).rejects.toMatchObject({ status: 429, retryAfterS: 1 });
    ac.abort();
    expect((await Promise.all([collect(first), collect(second)])).map((c) => c.finishReason)).toEqual(['abort', 'abort']);
    await small.shutdown(0);
  });
});
