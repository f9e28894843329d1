import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, afterAll } from 'vitest';
import { convertCheckpoint } from '../../convert/convert.ts';
import { getTinyModel, TINY_MAX_TOP_K } from '../../testing/tiny-model.ts';
import { createEngine, type PickBanEngine } from '../core.ts';
import { collect, request, routing, type Collected } from '../testing.ts';
import type { EngineLimits } from '../types.ts';
import * as ort from 'onnxruntime-node';
import { DeviceKv, KV_CAPACITY_MIN, kvCapacity, shapeBucket } from './device-kv.ts';
import { SequenceKv, type KvShape } from './kv-cache.ts';

/**
 * Device-resident KV (what GPU EPs use) run on the CPU EP: the runner never reads a present_* back
 * and rebuilds every changed batch with the compose graph. It must generate exactly what the host
 * path generates, through joins, early ends, chunked prefill beside decode, and mixed routing.
 */
const limits: EngineLimits = { maxRunningSeqs: 5, maxQueuedSeqs: 16, maxKvTokens: 4096, maxPrefillChunk: 5, maxBatchTokens: 16 };
const prompts = ['Once upon a time', 'The capital of France is', '你好，世界！请告诉我', 'Write a long essay about the history of the Roman Empire, its emperors and its fall.', 'Hi', 'A list of primes: 2, 3, 5,'];
const engines: PickBanEngine[] = [];
const out = mkdtempSync(join(tmpdir(), 'pickban-device-kv-'));
afterAll(async () => {
  for (const e of engines) await e.shutdown(0);
  rmSync(out, { recursive: true, force: true });
});

interface WorkloadOptions {
  modelDir?: string;
  topKGraph?: boolean;
  denseMinTokens?: number;
  decodeWindow?: number;
}

async function workload(kvResidency: 'host' | 'device', o: WorkloadOptions = {}): Promise<{ results: Collected[]; engine: PickBanEngine }> {
  const engine = await engineFor({ ...o, kvResidency });
  const { numLayers: L, numExperts: E } = engine.manifest.architecture;
  const rs = [routing(L, E), routing(L, E, { strategy: 'ban', tau: 0.4, topK: 6 }), routing(L, E, { strategy: 'pick', keyExperts: { 0: [3], 2: [1] }, lambda: 0.3 }), routing(L, E, { topK: 2 })];
  // Six requests over four slots with different lengths: sequences end at different steps and
  // queued ones join while others decode.
  // Request 1 samples (seeded), so some steps need the logits on the host, others only greedy ids.
  const results = await Promise.all(prompts.map(async (p, i) => collect(await engine.submit(request(rs[i % rs.length], { prompt: p, maxTokens: 3 + ((i * 5) % 11), ...(i === 1 ? { temperature: 0.8, seed: 7 } : {}) })))));
  return { results, engine };
}

async function engineFor(o: WorkloadOptions & { kvResidency?: 'host' | 'device' }): Promise<PickBanEngine> {
  const engine = (await createEngine({ modelDir: o.modelDir ?? (await getTinyModel()).modelDir, limits, threads: 2, kvResidency: o.kvResidency, topKGraph: o.topKGraph, denseMinTokens: o.denseMinTokens, decodeWindow: o.decodeWindow })) as PickBanEngine;
  engines.push(engine);
  return engine;
}

/**
 * The tiny model converted as for a GPU (GroupQueryAttention), once per kind: 'gqa' fp32 with the
 * kernel; 'topk' int4 QMoE with the top_k graph beside it; 'dense' int4 QMoE with the dense-experts
 * graph beside it (accuracy_level 0: fp32 activations into MatMulNBits, as QMoE computes; level 4's
 * int8 activations alone move the logits by ~2%).
 */
const gpuModels = new Map<string, string>();
async function gpuModel(kind: 'gqa' | 'topk' | 'dense'): Promise<string> {
  const dir = join(out, kind);
  if (gpuModels.has(kind)) return dir;
  const tiny = await getTinyModel();
  const base = { src: tiny.checkpointDir, out: dir, attention: 'gqa' as const, maxTopK: TINY_MAX_TOP_K };
  if (kind === 'gqa') convertCheckpoint(base);
  else if (kind === 'topk') convertCheckpoint({ ...base, dtype: 'int4', moe: 'qmoe', topKGraph: true });
  else convertCheckpoint({ ...base, dtype: 'int4', moe: 'qmoe', throughputGraph: true, topKGraph: false, accuracyLevel: 0 });
  gpuModels.set(kind, dir);
  return dir;
}

/** Every request completed, token for token and with the routing statistics of the reference run. */
function expectSameGeneration(results: Collected[], reference: Collected[]): void {
  expect(results.map((c) => c.error)).toEqual(prompts.map(() => null));
  expect(results.map((c) => c.tokenIds)).toEqual(reference.map((c) => c.tokenIds));
  expect(results.map((c) => c.usage?.routing)).toEqual(reference.map((c) => c.usage?.routing));
}

describe('device-resident KV', () => {
  it('generates token for token what host-resident KV generates', async () => {
    const host = await workload('host');
    const device = await workload('device');
    expectSameGeneration(device.results, host.results);
    // Finished sequences are freed at the next step; after it nothing is left referenced on the device.
    await device.engine.step();
    expect(device.engine.kvTokensHeld).toBe(0);
  });

  it('GroupQueryAttention graphs (unpadded runs per chunk length, KV always on the device) generate the same', async () => {
    const host = await workload('host');
    const gqa = await workload('host', { modelDir: await gpuModel('gqa') });
    expectSameGeneration(gqa.results, host.results);
  });

  it('plain top_k batches run on the top_k graph (no router kernel) and generate what the kernel graph generates', async () => {
    // The GPU plan's graphs, on the CPU EP: QMoE with the kernel, and the top_k graph beside it.
    const modelDir = await gpuModel('topk');
    const kernelOnly = await workload('host', { modelDir, topKGraph: false });
    const both = await workload('host', { modelDir });
    expectSameGeneration(both.results, kernelOnly.results);
    // Requests 0 and 4 route plain top_k (the model's k, not renormalized); the others ban, pick, or
    // take k = 2. Steps where only plain rows run use the top_k graph, all others the kernel graph.
    expect(kernelOnly.engine.snapshot().graphRuns['model.topk.onnx']).toBeUndefined();
    const runs = both.engine.snapshot().graphRuns;
    expect(runs['model.topk.onnx']).toBeGreaterThan(0);
    expect(runs['model.onnx']).toBeGreaterThan(0);
  });

  it('decode steps of at least minTokens rows run on the dense graph and generate what the QMoE graph generates', async () => {
    // The GPU plan's kernel graphs on the CPU EP: QMoE, and the dense-experts graph beside it
    // (default minTokens: 3 rows; up to 5 run here).
    const modelDir = await gpuModel('dense');
    const qmoeOnly = await workload('host', { modelDir, denseMinTokens: limits.maxRunningSeqs + 1 });
    const both = await workload('host', { modelDir });
    expectSameGeneration(both.results, qmoeOnly.results);
    expect(qmoeOnly.engine.snapshot().graphRuns['model.dense.onnx']).toBeUndefined();
    const runs = both.engine.snapshot().graphRuns;
    expect(runs['model.dense.onnx']).toBeGreaterThan(0);
    // Prefill and decode steps of fewer rows stay on QMoE.
    expect(runs['model.onnx']).toBeGreaterThan(0);
  });
});

const totalRuns = (e: PickBanEngine) => Object.values(e.snapshot().graphRuns).reduce((a, b) => a + b, 0);

describe('decode steps ahead of the host (decodeWindow)', () => {
  it.each(['gqa', 'topk', 'dense'] as const)('greedy windows on the %s graphs generate what one step at a time generates', async (kind) => {
    const modelDir = await gpuModel(kind);
    const oneByOne = await workload('host', { modelDir, decodeWindow: 1 });
    const ahead = await workload('host', { modelDir, decodeWindow: 4 });
    expectSameGeneration(ahead.results, oneByOne.results);
    // Every run is read on its own without a window; with one, whole windows are read at once.
    const one = oneByOne.engine.snapshot();
    expect(one.hostReads).toBeLessThanOrEqual(totalRuns(oneByOne.engine));
    expect(ahead.engine.snapshot().hostReads).toBeLessThan(one.hostReads);
    await ahead.engine.step();
    expect(ahead.engine.kvTokensHeld).toBe(0);
  });

  it('a window is as long as the fewest tokens left: 17 tokens take a prefill and two windows of 8', async () => {
    const engine = await engineFor({ modelDir: await gpuModel('gqa'), decodeWindow: 8 });
    const { numLayers: L, numExperts: E } = engine.manifest.architecture;
    const before = { reads: engine.snapshot().hostReads, runs: totalRuns(engine) };
    const got = await collect(await engine.submit(request(routing(L, E), { maxTokens: 17 })));
    expect(got.tokenIds).toHaveLength(17);
    expect(engine.snapshot().hostReads - before.reads).toBe(3);
    expect(totalRuns(engine) - before.runs).toBe(17);
  });

  it('a stop inside a window ends the text where one step at a time ends it; the extra tokens are dropped', async () => {
    const modelDir = await gpuModel('gqa');
    const [one, ahead] = [await engineFor({ modelDir, decodeWindow: 1 }), await engineFor({ modelDir, decodeWindow: 8 })];
    const { numLayers: L, numExperts: E } = one.manifest.architecture;
    const r = routing(L, E, { strategy: 'ban', tau: 0.5 });
    const free = await collect(await one.submit(request(r, { prompt: 'A list of primes: 2, 3, 5,', maxTokens: 20 })));
    // A stop string made of what the 4th and 5th tokens printed: it ends the text mid-window.
    const stop = free.text.slice(free.deltas.slice(0, 3).join('').length).slice(0, 3);
    expect(stop.length).toBeGreaterThan(0);
    const stopped = await Promise.all([one, ahead].map(async (e) => collect(await e.submit(request(r, { prompt: 'A list of primes: 2, 3, 5,', maxTokens: 20, stop: [stop] })))));
    expect(stopped[0].finishReason).toBe('stop');
    expect(stopped[0].tokenIds.length).toBeLessThan(free.tokenIds.length);
    expect(stopped[1]).toEqual(stopped[0]);
    expect(ahead.snapshot().hostReads).toBeLessThan(totalRuns(ahead));
  });

  it('a request that arrives mid-window joins and both generate what they generate alone', async () => {
    const modelDir = await gpuModel('gqa');
    const engine = await engineFor({ modelDir, decodeWindow: 8 });
    const { numLayers: L, numExperts: E } = engine.manifest.architecture;
    const a = request(routing(L, E), { prompt: 'Once upon a time', maxTokens: 40 });
    const b = request(routing(L, E, { strategy: 'pick', keyExperts: { 1: [2] }, lambda: 0.4 }), { prompt: 'The capital of France is', maxTokens: 12 });
    const alone = [await collect(await engine.submit({ ...a, requestId: 'alone-a' })), await collect(await engine.submit({ ...b, requestId: 'alone-b' }))];
    let joined: Promise<Collected> | undefined;
    const first = collect(await engine.submit(a), (n) => {
      if (n === 2) joined = engine.submit(b).then(collect);
    });
    const together = [await first, await joined!];
    expect(together.map((c) => c.tokenIds)).toEqual(alone.map((c) => c.tokenIds));
    expect(together.map((c) => c.usage?.routing)).toEqual(alone.map((c) => c.usage?.routing));
    expect(engine.snapshot().hostReads).toBeLessThan(totalRuns(engine));
  });

  it('a request aborted mid-window ends at once; the others keep their tokens and its KV is freed', async () => {
    const engine = await engineFor({ modelDir: await gpuModel('gqa'), decodeWindow: 8 });
    const { numLayers: L, numExperts: E } = engine.manifest.architecture;
    const b = request(routing(L, E), { prompt: 'The capital of France is', maxTokens: 30 });
    const alone = await collect(await engine.submit({ ...b, requestId: 'alone-b' }));
    const controller = new AbortController();
    const aborted = collect(await engine.submit(request(routing(L, E), { prompt: 'Once upon a time', maxTokens: 30 }), controller.signal), (n) => n === 3 && controller.abort());
    const other = collect(await engine.submit(b));
    const [gone, kept] = [await aborted, await other];
    expect(gone.finishReason).toBe('abort');
    expect(gone.tokenIds.length).toBeLessThan(30);
    expect(kept.tokenIds).toEqual(alone.tokenIds);
    expect(engine.snapshot().hostReads).toBeLessThan(totalRuns(engine));
    await engine.step();
    expect(engine.kvTokensHeld).toBe(0);
  });
});

describe('DeviceKv capacity (GroupQueryAttention pasts)', () => {
  it('shape buckets: powers of two and 1.5 times them, never below what is asked', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 33, 200, 256, 257].map(shapeBucket)).toEqual([1, 2, 3, 4, 6, 6, 8, 8, 12, 16, 48, 256, 256, 384]);
    expect([1, 64, 65, 97, 129].map(kvCapacity)).toEqual([64, 64, 96, 128, 192]);
  });

  it('composes with room from the shape series, reuses the past while the tokens fit, and grows when they do not', async () => {
    const shape: KvShape = { numLayers: 2, numKvHeads: 1, headDim: 4, dtype: 'float32' };
    const device = new DeviceKv(shape, {});
    const kvs = [new SequenceKv(shape, 4096), new SequenceKv(shape, 4096)];
    // A present of T positions per row, as a step's outputs; row b holds `lengths[b]` tokens.
    const present = (T: number, rows = kvs.length) => Array.from({ length: shape.numLayers }, () => new ort.Tensor('float32', new Float32Array(rows * T * 4).map((_, i) => i), [rows, 1, T, 4]));
    const step = (T: number, lengths: number[]) => device.update(kvs, present(T), present(T), { lengths });
    step(5, [5, 3]); // a prefill: present has exactly its tokens

    const first = await device.pastFor(kvs, true, 1, 1);
    expect(first.composed).toBe(true);
    expect(first.P).toBe(KV_CAPACITY_MIN); // 5 + 1 tokens, rounded up
    // The composed past keeps each row's tokens at positions [0, length).
    const k0 = first.keys[0].data as Float32Array;
    expect(Array.from(k0.subarray(KV_CAPACITY_MIN * 4, KV_CAPACITY_MIN * 4 + 3 * 4))).toEqual(Array.from({ length: 12 }, (_, i) => 5 * 4 + i));

    step(KV_CAPACITY_MIN, [6, 4]); // GQA's present keeps the past's size
    const again = await device.pastFor(kvs, true, 1, 1);
    expect(again.composed).toBe(false);
    expect(again.P).toBe(KV_CAPACITY_MIN);

    step(KV_CAPACITY_MIN, [KV_CAPACITY_MIN, 10]); // full: the next token does not fit
    const grown = await device.pastFor(kvs, true, 1, 1);
    expect(grown.composed).toBe(true);
    expect(grown.P).toBe(96);

    // A padding row beside them: the past is reused as long as the real rows sit where they were.
    const withPad = [...kvs, device.padding];
    device.update(withPad, present(96, 3), present(96, 3), { lengths: [65, 11, 1] });
    const padded = await device.pastFor(withPad, true, 1, 1);
    expect(padded.composed).toBe(false);
    expect(Array.from(padded.valid.subarray(2 * 96, 3 * 96)).every((v) => v === 0)).toBe(true);
    expect(device.padding.length).toBe(0);
    for (const t of [...first.keys, ...first.values, ...grown.keys, ...grown.values]) t.dispose();
    await device.release();
  });
});
