import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../checkpoint/safetensors-reader.ts';
import { expectedTensors } from '../../checkpoint/tensor-names.ts';
import { convertCheckpoint } from '../../convert/convert.ts';
import { SUPPORTED_STRATEGIES } from '../../convert/router.ts';
import { makeFeeds, rowCacheFrom, type FeedRow, type RowCache } from '../../testing/graph-feeds.ts';
import { referenceRouteFn, routeFeeds, type RowRouting } from '../../testing/route-feeds.ts';
import { getTinyModel } from '../../testing/tiny-model.ts';
import { GRAPH_OUTPUTS, ManifestSchema, readHostOutputs, type Architecture, type Manifest, type WeightDtype } from '../contract.ts';
import { cachedWeights, referenceForward, type WeightSource } from '../reference/forward.ts';
import { storedWeights } from '../reference/stored-weights.ts';

/**
 * The converted graph against the plain TypeScript reference forward, on the tiny checkpoint:
 * every strategy (as rows of one batch), every weight format, and ragged batches with a KV cache.
 */

const PROMPT = [9707, 11, 1879, 0, 151644, 872, 198];
const OTHER = [151643, 5, 42, 4242];

interface Loaded {
  manifest: Manifest;
  session: ort.InferenceSession;
  weights: WeightSource;
}
const tmp = mkdtempSync(join(tmpdir(), 'pickban-parity-'));
let checkpoint: Checkpoint;
let arch: Architecture;
const loaded = new Map<string, Loaded>();

async function load(key: string, modelDir: string): Promise<Loaded> {
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')));
  const session = await ort.InferenceSession.create(join(modelDir, manifest.graphs.cpu!), { intraOpNumThreads: 2 });
  const expected = new Map(expectedTensors(manifest.architecture).map((t) => [t.name, t]));
  const l = { manifest, session, weights: cachedWeights(storedWeights(checkpoint, manifest.weights.dtype, expected)) };
  loaded.set(key, l);
  return l;
}

beforeAll(async () => {
  const fp32 = await getTinyModel();
  checkpoint = Checkpoint.open(fp32.checkpointDir);
  arch = (await load('fp32', fp32.modelDir)).manifest.architecture;
  for (const dtype of ['fp16', 'int8', 'int4'] as WeightDtype[]) await load(dtype, (await getTinyModel({ dtype })).modelDir);
  // accuracy_level 0 computes MatMulNBits in fp32: the graph must then match the dequantized weights exactly.
  for (const dtype of ['int8', 'int4'] as WeightDtype[]) {
    const out = join(tmp, `${dtype}-acc0`);
    convertCheckpoint({ src: fp32.checkpointDir, out, dtype, maxTopK: 8, accuracyLevel: 0 });
    await load(`${dtype}-acc0`, out);
  }
});
afterAll(async () => {
  for (const l of loaded.values()) await l.session.release();
  rmSync(tmp, { recursive: true, force: true });
});

async function step(l: Loaded, rows: FeedRow[], caches: (RowCache | null)[], routing: RowRouting[]) {
  const feeds = makeFeeds(arch, rows, caches, routeFeeds(arch, routing, l.session.inputNames));
  return l.session.run(feeds);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const rowOf = (t: ort.Tensor, b: number) => {
  const n = t.dims[t.dims.length - 1];
  return (t.data as Float32Array).subarray(b * n, (b + 1) * n);
};

const STRATEGY_ROWS: RowRouting[] = [
  { strategy: 'top_k', topK: 4 },
  { strategy: 'top_k', topK: 2, renormalize: true },
  { strategy: 'top_k', topK: 8 },
  { strategy: 'pick', topK: 4, lambda: 0.3, keyExperts: { 0: [3, 5], 2: [1, 2, 7, 9, 11] } },
  { strategy: 'ban', topK: 4, tau: 0.5, minExperts: 1 },
  { strategy: 'pick_and_ban', topK: 4, tau: 0.4, minExperts: 2, keyExperts: { 1: [0] } },
  { strategy: 'ban_and_pick', topK: 4, lambda: 0.8, minExperts: 1, keyExperts: { 0: [6] }, layerSensitivity: [0.2, 1, 0.5], rRange: [0.5, 0.95] },
];

describe('Qwen2MoE graph vs reference forward', () => {
  const strategies = () => STRATEGY_ROWS.filter((r) => SUPPORTED_STRATEGIES.includes(r.strategy));

  it('matches for every strategy, each row of one batch routing its own way (fp32)', async () => {
    const rows = strategies();
    const l = loaded.get('fp32')!;
    const out = await step(l, rows.map(() => ({ ids: PROMPT, past: 0 })), rows.map(() => null), rows);
    const perToken = arch.numLayers * arch.numExperts;
    const mask = readHostOutputs(out[GRAPH_OUTPUTS.hostOutputs].data as Float32Array, rows.length, PROMPT.length, perToken).expertMask;
    const perRow = PROMPT.length * perToken;
    rows.forEach((r, b) => {
      const margins: number[] = [];
      const ref = referenceForward(arch, l.weights, PROMPT, referenceRouteFn(r, arch.numExperts, margins));
      // Decisions within float noise of a threshold could flip legitimately; these cases have none.
      expect(Math.min(...margins), r.strategy).toBeGreaterThan(1e-4);
      expect(Array.from(mask.subarray(b * perRow, (b + 1) * perRow)), `${r.strategy} expert_mask`).toEqual(Array.from(ref.expertMask));
      expect(maxAbsDiff(rowOf(out.logits, b), ref.lastLogits), `${r.strategy} logits`).toBeLessThan(1e-4);
    });
    // The strategies really route differently: experts per token vary across rows.
    const counts = rows.map((_, b) => mask.subarray(b * perRow, (b + 1) * perRow).reduce((a, v) => a + v, 0));
    expect(new Set(counts).size).toBeGreaterThan(Math.min(rows.length, 3) - 1);
  });

  // fp16 rounds only storage; int8/int4 at accuracy_level 0 dequantize to fp32: all must match the
  // reference on the same rounded weights up to fp32 noise.
  for (const key of ['fp16', 'int8-acc0', 'int4-acc0']) {
    it(`matches the reference on ${key} weights within 1e-4`, async () => {
      const rows = strategies().filter((r) => r.strategy !== 'top_k' || r.topK === 4);
      const l = loaded.get(key)!;
      const out = await step(l, rows.map(() => ({ ids: PROMPT, past: 0 })), rows.map(() => null), rows);
      rows.forEach((r, b) => {
        const ref = referenceForward(arch, l.weights, PROMPT, referenceRouteFn(r, arch.numExperts));
        expect(maxAbsDiff(rowOf(out.logits, b), ref.lastLogits), `${key} ${r.strategy}`).toBeLessThan(1e-4);
      });
    });
  }

  // accuracy_level 4 (the shipped CPU setting) also quantizes activations to int8 per block of 32
  // (relative error up to 1/254 per value). That perturbs router logits by ~1e-2, enough to flip a
  // near-tie routing decision now and then (measured: 6 of 336 mask entries on one int4 prompt),
  // which swaps an expert for one of almost equal weight. So bound the error relative to the logit
  // scale instead of per value: RMS under 2% and max under 6% of max |logit| (measured 0.8% / 3.4%).
  for (const key of ['int8', 'int4']) {
    it(`stays close to the reference on ${key} weights with int8 activations (accuracy_level 4)`, async () => {
      const rows = strategies().filter((r) => r.strategy !== 'top_k' || r.topK === 4);
      const l = loaded.get(key)!;
      const out = await step(l, rows.map(() => ({ ids: PROMPT, past: 0 })), rows.map(() => null), rows);
      rows.forEach((r, b) => {
        const ref = referenceForward(arch, l.weights, PROMPT, referenceRouteFn(r, arch.numExperts));
        const got = rowOf(out.logits, b);
        const scale = ref.lastLogits.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        const rms = Math.sqrt(got.reduce((a, v, i) => a + (v - ref.lastLogits[i]) ** 2, 0) / got.length);
        expect(rms / scale, `${key} ${r.strategy} rms`).toBeLessThan(0.02);
        expect(maxAbsDiff(got, ref.lastLogits) / scale, `${key} ${r.strategy} max`).toBeLessThan(0.06);
      });
    });
  }
});

describe('ragged batches with a KV cache', () => {
  const routing: RowRouting = { strategy: 'top_k', topK: 4 };

  it('prefill then decode steps of two rows of different lengths match each row alone and the reference', async () => {
    const l = loaded.get('fp32')!;
    const seqs = [PROMPT.slice(0, 5), OTHER.slice(0, 3)];
    // Step 1: ragged prefill (5 and 3 tokens). Step 2: one decode token each, pasts 5 and 3.
    // Step 3: row 0 decodes one token while row 1 prefills a chunk of two (S differs per row).
    const plan: number[][][] = [[[], []], [[PROMPT[5]], [OTHER[3]]], [[PROMPT[6]], [77, 1234]]];
    plan[0] = seqs.map((s) => [...s]);
    let caches: (RowCache | null)[] = [null, null];
    const soFar = [[] as number[], [] as number[]];
    for (const [i, newIds] of plan.entries()) {
      const rows: FeedRow[] = newIds.map((ids, b) => ({ ids, past: soFar[b].length }));
      const out = await step(l, rows, caches, [routing, routing]);
      const P = Math.max(...rows.map((r) => r.past));
      const next: RowCache[] = [];
      for (let b = 0; b < 2; b++) {
        soFar[b].push(...newIds[b]);
        const ref = referenceForward(arch, l.weights, soFar[b], referenceRouteFn(routing, arch.numExperts));
        expect(maxAbsDiff(rowOf(out.logits, b), ref.lastLogits), `step ${i} row ${b} vs reference`).toBeLessThan(1e-4);
        const alone = await step(l, [rows[b]], [caches[b]], [routing]);
        expect(maxAbsDiff(rowOf(out.logits, b), rowOf(alone.logits, 0)), `step ${i} row ${b} vs alone`).toBeLessThan(1e-5);
        next.push(rowCacheFrom(arch, out, b, rows[b], P));
      }
      caches = next;
    }
  });
});
