/**
 * npm run bench:router — CPU cost of the router kernel per MoE layer, Qwen1.5-MoE shape (L = 24,
 * E = 60, K = 4), for decode batches and a prefill chunk. Each figure is the median run of a
 * router-only graph minus that of the same graph without the kernel (input feeding and run()
 * overhead), divided by the layer count; the minimum over runs is given too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ROUTING_STRATEGIES, type RoutingStrategy } from '../../../../shared/routing/schema.ts';
import { GRAPH_INPUTS } from '../contract.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { makeRouter } from './kernel.ts';
import { packRouterInputs } from './pack.ts';
import { makeRouterParams } from './params.ts';
import { resolvedRow, seededNormal } from './test-harness.ts';

const L = 24;
const E = 60;
const dir = mkdtempSync(join(tmpdir(), 'pickban-bench-router-'));

async function session(withKernel: boolean, strategies: readonly RoutingStrategy[]) {
  const g = new GraphBuilder();
  const inputIds = g.input(GRAPH_INPUTS.inputIds, 'int64', ['batch', 'seq']);
  const logits = g.input('router_logits', 'float32', [L, 'tokens', E]);
  const params = makeRouterParams(g, { tokens: inputIds, numLayers: L, numExperts: E, strategies });
  const outs: string[] = [];
  for (let l = 0; l < L; l++) {
    const layerLogits = g.node('Gather', [logits, g.constI64(l)], { axis: 0 });
    // Without the kernel, the layer still consumes its logits and the per-token params (a fair baseline).
    outs.push(withKernel ? makeRouter(g, { prefix: `/model/layers.${l}/moe/router`, layer: l, logits: layerLogits, params }).weights : g.node('Softmax', [layerLogits], { axis: -1 }));
  }
  const sum = outs.reduce((a, b) => g.node('Add', [a, b]));
  g.output('out', 'float32', ['tokens', E], g.node('Add', [sum, g.node('ReduceSum', [params.thresholds], { keepdims: 0 })]));
  const path = join(dir, `router-${withKernel}-${strategies.length}.onnx`);
  writeFileSync(path, g.toModelBytes());
  return ort.InferenceSession.create(path, { intraOpNumThreads: Math.min(2, cpus().length) });
}

/** Median and minimum ms per run; the minimum is the figure to trust on a busy machine. */
async function timeMs(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>, runs: number) {
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(runs / 2)], min: times[0] };
}

const shapes = [
  { label: 'decode B=1', B: 1, S: 1, runs: 200 },
  { label: 'decode B=8', B: 8, S: 1, runs: 200 },
  { label: 'decode B=32', B: 32, S: 1, runs: 100 },
  { label: 'prefill B=1 S=512', B: 1, S: 512, runs: 10 },
];
const normal = seededNormal(1);
console.log(`router kernel, CPU (${cpus()[0]?.model ?? 'cpu'}, ${Math.min(2, cpus().length)} threads), L=${L}, E=${E}, ${new Date().toISOString().slice(0, 10)}`);
for (const strategies of [ROUTING_STRATEGIES.filter((s) => s !== 'ban_and_pick'), ROUTING_STRATEGIES]) {
  const [withKernel, baseline] = [await session(true, strategies), await session(false, strategies)];
  console.log(`\nstrategies: ${strategies.join(', ')}`);
  console.log('| shape | µs per layer (median) | µs per layer (min) | ms per step, 24 layers (median) |\n|---|---|---|---|');
  for (const { label, B, S, runs } of shapes) {
    const rows = [...Array(B).keys()].map((b) => resolvedRow(L, E, { strategy: strategies[b % strategies.length], topK: 4, tau: 0.8, lambda: 0.6, keys: { 0: [1, 2], 5: [7] } }));
    const feeds = {
      ...packRouterInputs(rows, { numLayers: L, numExperts: E, maxTopK: 8 }),
      [GRAPH_INPUTS.inputIds]: new ort.Tensor('int64', new BigInt64Array(B * S), [B, S]),
      router_logits: new ort.Tensor('float32', Float32Array.from({ length: L * B * S * E }, () => normal() * 2), [L, B * S, E]),
    };
    const [k, b] = [await timeMs(withKernel, feeds, runs), await timeMs(baseline, feeds, runs)];
    const perLayer = (ms: number) => ((ms * 1000) / L).toFixed(1);
    console.log(`| ${label} | ${perLayer(k.median - b.median)} | ${perLayer(k.min - b.min)} | ${(k.median - b.median).toFixed(2)} |`);
  }
}
rmSync(dir, { recursive: true, force: true });
