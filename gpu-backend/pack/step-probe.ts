/**
 * `bin/node step-probe.mjs <model-dir> [--batches 1,8,32] [--past 128] [--runs 20] [--ep webgpu] [--graphs model.topk.onnx,...] [--window N [--feed]]`
 * inside a packed bundle: the cost of one decode run() of each graph of a model dir, alone (no
 * scheduler, sampling or HTTP), with the KV cache fed back on the device as the runner does. For
 * separating the graph's cost from the engine's on a GPU host. The past is sized as the runner sizes it
 * (room for the coming tokens, device-kv.ts).
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { resolveRouting } from '../../shared/routing/resolve.ts';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, ManifestSchema, type ExecutionProvider } from '../src/model/contract.ts';
import { packRouterInputs } from '../src/model/router/index.ts';
import { sessionOptionsFor } from '../src/engine/runner/session.ts';
import { kvCapacity } from '../src/engine/runner/device-kv.ts';
import { HostCopy } from '../src/engine/runner/host-copy.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { batches: { type: 'string', default: '1,8,32' }, past: { type: 'string', default: '128' }, runs: { type: 'string', default: '20' }, ep: { type: 'string', default: 'webgpu' }, graphs: { type: 'string' }, window: { type: 'string', default: '0' }, feed: { type: 'boolean', default: false } } });
const dir = positionals[0];
const ep = values.ep as ExecutionProvider;
const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
const { numLayers: L, numExperts: E, numKvHeads: kvH, headDim: D } = manifest.architecture;
// The graphs converted for a GPU EP (also runnable on the CPU EP, for trying the probe anywhere).
const gpuEp = (Object.keys(manifest.graphs) as ExecutionProvider[])[0];
const only = values.graphs?.split(',');
const files = [manifest.graphs[gpuEp]!, manifest.throughputGraphs?.[gpuEp]?.file, manifest.topKGraphs?.[gpuEp]?.file].filter((f): f is string => f !== undefined && (!only || only.includes(f)));
const presents = Array.from({ length: L }, (_, l) => [GRAPH_OUTPUTS.presentKey(l), GRAPH_OUTPUTS.presentValue(l)]).flat();
// As the runner: the KV and the logits stay on the GPU; greedy rows read only the graph's ArgMax.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const routing = resolveRouting(undefined, {
  num_layers: L, num_experts: E, default_top_k: manifest.routing.defaultTopK, max_top_k: manifest.routing.maxTopK,
  strategies: manifest.routing.strategies, profiles: [], renormalize_default: manifest.architecture.normTopkProb,
});

// --window N: every output stays on the GPU and the host reads host_outputs once per N steps (one
// wait per window instead of one per step, as the engine's decode windows); --feed: each step's
// input ids are the last step's next_ids, on the GPU.
const windowSize = Number(values.window);
const hostCopy = new HostCopy(sessionOptionsFor({ executionProvider: ep }));
const extra = windowSize > 0 ? [GRAPH_OUTPUTS.hostOutputs, GRAPH_OUTPUTS.nextIds] : [];
for (const file of files) {
  const session = await ort.InferenceSession.create(join(dir, file), sessionOptionsFor({ executionProvider: ep, deviceOutputs: [...presents, GRAPH_OUTPUTS.logits, ...extra] }));
  for (const B of values.batches!.split(',').map(Number)) {
    let P = Number(values.past);
    // As the runner: the past has room for the coming tokens, so present_* keep its size.
    const capacity = kvCapacity(P + Number(values.runs) + 2);
    const size = B * kvH * capacity * D;
    const zeros = manifest.kvDtype === 'float16' ? new Uint16Array(size) : new Float32Array(size);
    let past: ort.Tensor[] = Array.from({ length: 2 * L }, () => new ort.Tensor(manifest.kvDtype, zeros, [B, kvH, capacity, D]));
    const route = packRouterInputs(Array.from({ length: B }, () => routing), { numLayers: L, numExperts: E, maxTopK: manifest.routing.maxTopK });
    const times: number[] = [];
    let held: ort.Tensor[] = [];
    let nextIds: ort.Tensor | undefined;
    let tStart = 0;
    for (let r = 0; r < Number(values.runs) + 2; r++) {
      if (r === 2) tStart = performance.now();
      const feeds: Record<string, ort.Tensor> = {
        ...route,
        [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', BigInt64Array.from({ length: B }, (_, b) => BigInt(1000 + b + r)), [B, 1]),
        [GRAPH_INPUTS.lastIndex]: new ort.Tensor('int64', BigInt64Array.from({ length: B }, (_, b) => BigInt(b)), [B]),
        [GRAPH_INPUTS.seqlensK]: new ort.Tensor('int32', new Int32Array(B).fill(P), [B]),
        [GRAPH_INPUTS.totalSequenceLength]: new ort.Tensor('int32', Int32Array.from([P + 1]), []),
      };
      for (let l = 0; l < L; l++) {
        feeds[GRAPH_INPUTS.pastKey(l)] = past[2 * l];
        feeds[GRAPH_INPUTS.pastValue(l)] = past[2 * l + 1];
      }
      if (values.feed && nextIds) feeds[GRAPH_INPUTS.inputIds] = nextIds;
      const t0 = performance.now();
      const out = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]])));
      out[GRAPH_OUTPUTS.logits].dispose();
      if (windowSize > 0) {
        for (const t of held) t.dispose();
        held = [out[GRAPH_OUTPUTS.hostOutputs]];
        nextIds?.dispose();
        nextIds = out[GRAPH_OUTPUTS.nextIds];
        if ((r + 1) % windowSize === 0) await hostCopy.toHost(out[GRAPH_OUTPUTS.hostOutputs]);
      }
      const ms = performance.now() - t0;
      if (r >= 2) times.push(ms);
      if (r > 0) for (const t of past) t.dispose();
      past = presents.map((n) => out[n]);
      P += 1;
    }
    // The last window's steps may still be running on the GPU.
    if (held.length > 0) await hostCopy.toHost(...held);
    const meanMs = (performance.now() - tStart) / times.length;
    for (const t of [...past, ...held]) t.dispose();
    nextIds?.dispose();
    console.log(JSON.stringify({ file, B, past: Number(values.past), runs: times.length, medianMs: +median(times).toFixed(2), minMs: +Math.min(...times).toFixed(2), meanMs: +meanMs.toFixed(2), tokS: +((1000 * B) / median(times)).toFixed(1), window: windowSize, feed: values.feed, webgpuOptions: process.env.PICKBAN_WEBGPU_OPTIONS ?? null }));
  }
  await session.release();
}
await hostCopy.release();
