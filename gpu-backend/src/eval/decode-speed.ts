import { GRAPH_OUTPUTS } from '../model/contract.ts';
import { argmax } from '../engine/sampling/sampler.ts';
import type { ProbeModel } from '../calibrate/probe-model.ts';
import { makeFeeds, rowCacheFrom } from '../testing/graph-feeds.ts';
import { routeFeeds, type RowRouting } from '../testing/route-feeds.ts';

/**
 * CPU decode speed of one routing: a greedy decode of `steps` tokens at batch 1 through the graph
 * with its KV cache, after the prompt's prefill (not timed). Returns tokens per second.
 */
export async function decodeTokensPerSecond(model: ProbeModel, prompt: readonly number[], routing: RowRouting, steps: number): Promise<number> {
  const { arch, session } = model;
  const route = routeFeeds(arch, [routing], session.inputNames);
  let row = { ids: [...prompt], past: 0 };
  let out = await session.run(makeFeeds(arch, [row], [null], route));
  let cache = rowCacheFrom(arch, out, 0, row, 0);
  let next = argmax(out[GRAPH_OUTPUTS.logits].data as Float32Array);
  const started = performance.now();
  for (let i = 0; i < steps; i++) {
    row = { ids: [next], past: cache[0].length };
    out = await session.run(makeFeeds(arch, [row], [cache], route));
    cache = rowCacheFrom(arch, out, 0, row, row.past);
    next = argmax(out[GRAPH_OUTPUTS.logits].data as Float32Array);
  }
  return steps / ((performance.now() - started) / 1000);
}

/**
 * Decode speed of every routing, after a short warm-up of each, measured round-robin `rounds` times and reported as the median,
 * so a burst of load on a shared machine does not land on one strategy only.
 */
export async function decodeSpeeds(model: ProbeModel, prompt: readonly number[], routings: readonly RowRouting[], steps: number, rounds = 3): Promise<number[]> {
  // One untimed pass first: ORT sizes its buffers for decode shapes after the batched quality runs.
  for (const routing of routings) await decodeTokensPerSecond(model, prompt, routing, Math.min(steps, 4));
  const samples = routings.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [i, routing] of routings.entries()) samples[i].push(await decodeTokensPerSecond(model, prompt, routing, steps));
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]);
}
