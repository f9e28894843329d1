import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, ManifestSchema, readHostOutputs, type Manifest, type WeightDtype } from '../model/contract.ts';
import { kvTensor, kvValues, makeFeeds, rowCacheFrom } from '../testing/graph-feeds.ts';
import { routeFeeds, type RowRouting } from '../testing/route-feeds.ts';
import { getTinyModel } from '../testing/tiny-model.ts';
import { convertCheckpoint, THROUGHPUT_GRAPH_FILE, TOP_K_GRAPH_FILE } from './convert.ts';

const out = mkdtempSync(join(tmpdir(), 'pickban-webgpu-variant-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const { onnx } = onnxProto;
const manifestOf = (dir: string): Manifest => ManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));

/** Rows of every strategy in one batch: the GPU formulations must honour each row's. */
const ROWS: RowRouting[] = [
  { strategy: 'ban', topK: 4, tau: 0.3 },
  { strategy: 'top_k', topK: 2 },
  { strategy: 'pick', topK: 4, lambda: 0.5, keyExperts: { 0: [1, 2], 2: [5] } },
  { strategy: 'ban_and_pick', topK: 4, minExperts: 2, lambda: 0.5, keyExperts: { 1: [3] }, layerSensitivity: [1, 0.5, 0.25, 0.75], rRange: [0.4, 0.9] },
];

/**
 * Where the webgpu graphs run: the CPU EP (their ops all exist there), or with PICKBAN_TEST_EP=webgpu
 * the WebGPU EP itself, on any Vulkan adapter (README: Mesa's lavapipe is enough).
 */
const GPU_GRAPH_EP = process.env.PICKBAN_TEST_EP === 'webgpu' ? 'webgpu' : 'cpu';

/** Runs a graph file (the webgpu dir's on GPU_GRAPH_EP) and returns logits and masks. */
async function run(dir: string, file: string, manifest: Manifest, rows: RowRouting[] = ROWS) {
  const ep = basename(dir).startsWith('webgpu-') ? GPU_GRAPH_EP : 'cpu';
  const session = await ort.InferenceSession.create(join(dir, file), { executionProviders: [ep] });
  // Rows of equal length: GroupQueryAttention graphs compute the same number of tokens per row.
  const ids = [[9707, 11, 1879], [42, 7, 100], [785, 3974, 13876], [3838, 374, 279]].slice(0, rows.length);
  const feeds = makeFeeds(manifest.architecture, ids.map((r) => ({ ids: r, past: 0 })), ids.map(() => null),
    routeFeeds(manifest.architecture, rows, session.inputNames), manifest.kvDtype);
  const result = await session.run(Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]])));
  await session.release();
  const logits = result[GRAPH_OUTPUTS.logits].data as Float32Array;
  const V = manifest.architecture.vocabSize;
  const { greedyIds, expertMask } = readHostOutputs(result[GRAPH_OUTPUTS.hostOutputs].data as Float32Array, ids.length, ids[0].length, manifest.architecture.numLayers * manifest.architecture.numExperts);
  // The graph's own greedy ids (a chunked, float-only ArgMax) are the logits' argmax.
  expect(Array.from(greedyIds)).toEqual(argmaxRows(logits, V));
  // next_ids, the next step's input_ids when decode steps run ahead of the host, are the same ids.
  expect(Array.from(result[GRAPH_OUTPUTS.nextIds].data as BigInt64Array, Number)).toEqual(Array.from(greedyIds));
  expect(result[GRAPH_OUTPUTS.nextIds].dims).toEqual([ids.length, 1]);
  return { logits, mask: expertMask, V };
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const argmaxRows = (x: Float32Array, V: number) => Array.from({ length: x.length / V }, (_, r) => x.subarray(r * V, (r + 1) * V).reduce((best, v, i, row) => (v > row[best] ? i : best), 0));

describe(`the webgpu graphs (on the ${GPU_GRAPH_EP} EP) compute what the CPU graph computes`, () => {
  const cases: { dtype: WeightDtype; files: string[]; tolerance: number; activations?: 'float32' }[] = [
    // GPU graphs run fp16 activations and KV (QMoE, dense experts, GQA) over the same int4 weights.
    { dtype: 'int4', files: ['model.onnx', THROUGHPUT_GRAPH_FILE, TOP_K_GRAPH_FILE], tolerance: 5e-3 },
    // --activations float32: the fp32 stream and KV, casting around QMoE.
    { dtype: 'int4', files: ['model.onnx', THROUGHPUT_GRAPH_FILE, TOP_K_GRAPH_FILE], tolerance: 5e-3, activations: 'float32' },
    // fp16 weights and activations: one dense graph.
    { dtype: 'fp16', files: ['model.onnx'], tolerance: 5e-3 },
  ];
  for (const { dtype, files, tolerance, activations } of cases) {
    // On Mesa's lavapipe the fp16-weights graph's logits differ from the CPU's by ~5% of their
    // largest (the int4 graphs by < 0.5%), not yet explained; the int4 graphs are the GPU path we ship.
    it.skipIf(GPU_GRAPH_EP === 'webgpu' && dtype === 'fp16')(`${dtype}${activations ? ` (${activations} activations)` : ''}: ${files.join(' + ')} against the cpu graph, per-row routing in one batch`, async () => {
      const tiny = await getTinyModel();
      const cpuDir = join(out, `cpu-${dtype}`);
      const gpuDir = join(out, `webgpu-${dtype}${activations ? `-${activations}` : ''}`);
      // accuracy_level 0: fp32 activations into MatMulNBits, as QMoE computes (level 4's int8
      // activations alone move these logits by ~2%).
      convertCheckpoint({ src: tiny.checkpointDir, out: cpuDir, dtype, maxTopK: 8, accuracyLevel: 0 });
      convertCheckpoint({ src: tiny.checkpointDir, out: gpuDir, dtype, maxTopK: 8, ep: 'webgpu', accuracyLevel: 0, activations });
      const manifest = manifestOf(gpuDir);
      expect(manifest.graphs).toEqual({ webgpu: 'model.onnx' });
      expect(manifest.kvDtype).toBe(activations ?? 'float16');
      // ORT's WebGPU MatMulNBitsMlpFusion folds the shared expert's norm, gate, up and SiLU into one
      // node (4-bit weights) only when that norm's sole readers are the two projections: every GPU graph keeps it so.
      for (const file of files) {
        const nodes = onnx.ModelProto.decode(readFileSync(join(gpuDir, file))).graph!.node!;
        const norm = nodes.find((n) => n.name === '/model/layers.0/shared_expert_norm/RMSNorm');
        const readers = nodes.filter((n) => n.input!.includes(norm?.output![0] ?? '-')).map((n) => n.name!.replace(/\/[^/]+$/, ''));
        expect(readers.sort(), file).toEqual(['/model/layers.0/moe/shared_expert/gate_proj', '/model/layers.0/moe/shared_expert/up_proj']);
        // input_ids' one reader is the embedding Gather (a GPU node): fed from the last step's next_ids
        // on the GPU, a CPU reader (Shape, Reshape) would copy it to the host and wait mid-step.
        expect(nodes.filter((n) => n.input!.includes(GRAPH_INPUTS.inputIds)).map((n) => n.opType), file).toEqual(['Gather']);
      }
      if (dtype === 'int4') {
        const graphOf = (file: string) => onnx.ModelProto.decode(readFileSync(join(gpuDir, file))).graph!;
        const bytesOf = (g: ReturnType<typeof graphOf>, name: string) => JSON.stringify(g.initializer!.find((t) => t.name === name)?.externalData);
        // The dense graph's down projection is one [N*K, I] x [I, E*H] product over QMoE's fc2 bytes.
        const dense = graphOf(THROUGHPUT_GRAPH_FILE);
        const qmoe = graphOf('model.onnx');
        const down = dense.node!.find((n) => n.name === '/model/layers.0/moe/dense_experts/down/MatMulNBits')!;
        const fc2 = qmoe.node!.find((n) => n.name === '/model/layers.0/moe/qmoe/QMoE')!.input![5];
        expect(bytesOf(dense, down.input![1])).toBe(bytesOf(qmoe, fc2));
        const { numExperts: E, hiddenSize: H, moeIntermediateSize: I } = manifest.architecture;
        expect(down.attribute!.filter((a) => a.name === 'N' || a.name === 'K').map((a) => Number(a.i))).toEqual([I, E * H]);
        // The top_k graph takes every layer's routing statistics in one top-k at the end.
        const topK = graphOf(TOP_K_GRAPH_FILE).node!;
        expect(topK.filter((n) => n.opType === 'GreaterOrEqual').map((n) => n.name)).toEqual(['/model/host_outputs/GreaterOrEqual']);
      }
      expect(manifest.graphInfo).toEqual(dtype === 'int4'
        ? { 'model.onnx': { moe: 'qmoe', attention: 'gqa' }, [THROUGHPUT_GRAPH_FILE]: { moe: 'dense', attention: 'gqa' }, [TOP_K_GRAPH_FILE]: { moe: 'qmoe', attention: 'gqa', router: 'top_k' } }
        : { 'model.onnx': { moe: 'dense', attention: 'gqa' } });
      expect(manifest.throughputGraphs?.webgpu?.file).toBe(dtype === 'int4' ? THROUGHPUT_GRAPH_FILE : undefined);
      expect(manifest.topKGraphs?.webgpu?.file).toBe(dtype === 'int4' ? TOP_K_GRAPH_FILE : undefined);

      const { numLayers: L, numExperts: E, numExpertsPerTok } = manifest.architecture;
      // The top_k graph serves only plain rows: every row top_k at the model's k, not renormalized.
      const plain: RowRouting[] = ROWS.map(() => ({ strategy: 'top_k', topK: numExpertsPerTok }));
      const refs = { mixed: await run(cpuDir, 'model.onnx', manifestOf(cpuDir)), plain: await run(cpuDir, 'model.onnx', manifestOf(cpuDir), plain) };
      // On a real adapter (lavapipe) the top_k graph's fp16 router logits flip near-tied selections of
      // this random tiny model against the fp32 CPU graph (2 of 12 token-layers), so its logits cannot
      // match there; the trained default model's greedy parity (pack/smoke.ts) is that adapter's check.
      for (const file of files.filter((f) => GPU_GRAPH_EP === 'cpu' || f !== TOP_K_GRAPH_FILE)) {
        const rows = file === TOP_K_GRAPH_FILE ? plain : ROWS;
        const ref = rows === plain ? refs.plain : refs.mixed;
        const got = await run(gpuDir, file, manifest, rows);
        expect(maxDiff(got.logits, ref.logits), file).toBeLessThan(tolerance * maxAbs(ref.logits));
        expect(argmaxRows(got.logits, got.V)).toEqual(argmaxRows(ref.logits, ref.V));
        // Layer 0 routes from attention output alone, before any MoE: its selections are identical.
        for (let t = 0; t < got.mask.length / (L * E); t++) expect(got.mask.subarray(t * L * E, t * L * E + E)).toEqual(ref.mask.subarray(t * L * E, t * L * E + E));
      }
    });
  }
});

it('the qmoe formulation refuses unquantized experts with one clear line', async () => {
  const tiny = await getTinyModel();
  expect(() => convertCheckpoint({ src: tiny.checkpointDir, out: join(out, 'qmoe-fp32'), moe: 'qmoe' })).toThrow(/int4 or int8/);
});

it('refuses a cuda graph variant with one clear line', async () => {
  const tiny = await getTinyModel();
  expect(() => convertCheckpoint({ src: tiny.checkpointDir, out: join(out, 'cuda'), ep: 'cuda' })).toThrow(/--ep cuda/);
});

it('a GroupQueryAttention past longer than its tokens (KV capacity) gives the same step and keeps its length', async () => {
  // The runner pads pasts to a capacity so that present_* keep one size from step to step (ORT
  // sizes present as max(past, total_sequence_length)) and their buffers can be reused.
  const tiny = await getTinyModel();
  const dir = join(out, 'webgpu-int4');
  convertCheckpoint({ src: tiny.checkpointDir, out: dir, dtype: 'int4', maxTopK: 8, ep: 'webgpu', accuracyLevel: 0 });
  const manifest = manifestOf(dir);
  const arch = manifest.architecture;
  const session = await ort.InferenceSession.create(join(dir, TOP_K_GRAPH_FILE), { executionProviders: [GPU_GRAPH_EP] });
  const run = async (feeds: Record<string, ort.Tensor>) => session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]])));
  const prompts = [{ ids: [9707, 11, 1879], past: 0 }, { ids: [42, 7, 100], past: 0 }];
  const prefill = await run(makeFeeds(arch, prompts, [null, null], {}, manifest.kvDtype));
  const caches = prompts.map((row, b) => rowCacheFrom(arch, prefill, b, row, 0));
  const step = [{ ids: [13], past: 3 }, { ids: [25], past: 3 }];
  const exact = makeFeeds(arch, step, caches, {}, manifest.kvDtype);
  const padded = { ...exact };
  const extra = 5;
  for (let l = 0; l < arch.numLayers; l++) {
    for (const name of [GRAPH_INPUTS.pastKey(l), GRAPH_INPUTS.pastValue(l)]) {
      const [B, kvH, P, D] = exact[name].dims;
      // The slots past each row's tokens hold garbage: attention must not read them.
      const data = new Float32Array(B * kvH * (P + extra) * D).fill(1e3);
      const src = kvValues(exact[name]);
      for (let bh = 0; bh < B * kvH; bh++) data.set(src.subarray(bh * P * D, (bh + 1) * P * D), bh * (P + extra) * D);
      padded[name] = kvTensor(manifest.kvDtype, data, [B, kvH, P + extra, D]);
    }
  }
  const a = await run(exact);
  const b = await run(padded);
  await session.release();
  expect(a[GRAPH_OUTPUTS.presentKey(0)].dims[2]).toBe(4);
  expect(b[GRAPH_OUTPUTS.presentKey(0)].dims[2]).toBe(3 + extra);
  const la = a[GRAPH_OUTPUTS.logits].data as Float32Array;
  expect(maxDiff(b[GRAPH_OUTPUTS.logits].data as Float32Array, la)).toBeLessThan(1e-4 * maxAbs(la));
});
