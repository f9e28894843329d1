/**
 * `bin/node smoke.mjs <ep>:<model-dir> [<ep>:<model-dir> ...]` inside a packed bundle: the same greedy
 * prompts through the engine on each execution provider (each with the model dir converted for it,
 * `convert --ep <ep>`), printing the text, decode tokens/s and whether every provider produced the
 * same text as the first. For GPU hosts, where the
 * question is "does the webgpu path run and agree with the CPU".
 */
import { resolveRouting } from '../../shared/routing/resolve.ts';
import { createEngine } from '../src/engine/index.ts';
import type { ExecutionProvider } from '../src/model/contract.ts';

const targets = process.argv.slice(2).map((a) => {
  const [ep, dir] = a.split(/:(.*)/s);
  return { ep: ep as ExecutionProvider, modelDir: dir };
});
const labels = targets.map((t) => `${t.ep}:${t.modelDir}`);
const prompts = ['The old house on the hill', 'She looked at him and', 'In the morning the town'];
const limits = { maxRunningSeqs: 8, maxQueuedSeqs: 8, maxKvTokens: 8192, maxPrefillChunk: 256, maxBatchTokens: 512 };
const results: Record<string, string[]> = {};

for (const [i, { ep, modelDir }] of targets.entries()) {
  const label = labels[i];
  const t0 = performance.now();
  const engine = await createEngine({ modelDir, executionProvider: ep, limits });
  const loadMs = performance.now() - t0;
  const info = engine.modelInfo();
  results[label] = [];
  for (const strategy of ['top_k', 'ban'] as const) {
    for (const prompt of prompts) {
      const routing = resolveRouting({ strategy, tau: 0.5 }, info.routing);
      const start = performance.now();
      let text = '';
      let first = 0;
      let tokens = 0;
      const events = await engine.submit({ requestId: `${ep}-${strategy}-${prompt}`, prompt, sampling: { temperature: 0, topP: 1, topK: 0, maxTokens: 32, stop: [] }, routing });
      for await (const ev of events) {
        if (ev.type === 'delta') {
          if (!first) first = performance.now();
          text += ev.text;
        } else if (ev.type === 'done') tokens = ev.usage.completion_tokens;
        else throw new Error(ev.message);
      }
      const decodeS = (performance.now() - first) / 1000;
      results[label].push(text);
      console.log(JSON.stringify({ ep, modelDir, strategy, prompt, loadMs: Math.round(loadMs), ttftMs: Math.round(first - start), decodeTokS: +((tokens - 1) / decodeS).toFixed(1), text }));
    }
  }
  // The same requests all at once: batched steps, rows joining and leaving (KV composed from several
  // runs' outputs, rows padded to the shape series) must not change a greedy text.
  const together = await Promise.all((['top_k', 'ban'] as const).flatMap((strategy) => prompts.map(async (prompt) => {
    const routing = resolveRouting({ strategy, tau: 0.5 }, info.routing);
    let text = '';
    for await (const ev of await engine.submit({ requestId: `${ep}-${strategy}-${prompt}-batched`, prompt, sampling: { temperature: 0, topP: 1, topK: 0, maxTokens: 32, stop: [] }, routing })) {
      if (ev.type === 'delta') text += ev.text;
      else if (ev.type === 'error') throw new Error(ev.message);
    }
    return text;
  })));
  if (process.env.SMOKE_SHOW) together.forEach((t, i) => t !== results[label][i] && console.log(JSON.stringify({ one: results[label][i], batched: t })));
  console.log(`${label} batched: ${together.filter((t, i) => t === results[label][i]).length}/${together.length} greedy texts identical to one at a time`);
  // Which graphs served the steps (top_k rows run on a model's top_k graph where it has one).
  console.log(JSON.stringify({ ep, modelDir, graphRuns: engine.snapshot().graphRuns }));
  await engine.shutdown(1000);
}
const [base, ...rest] = labels;
for (const label of rest) {
  const same = results[label].filter((t, i) => t === results[base][i]).length;
  console.log(`${label} vs ${base}: ${same}/${results[base].length} greedy texts identical`);
}
