/**
 * `npm run bench:engine`: the engine alone (no HTTP), greedy, B=1, on the CPU EP.
 * For each model: prefill tokens/s (one long prompt), decode tokens/s, and for every routing
 * strategy its decode tokens/s and average experts per token (completion tokens, from the graph's
 * expert masks); peak RSS of the process at the end. Medians over BENCH_RUNS runs.
 *
 * Models: the tiny model (fp32 and int4), then the Qwen1.5-MoE-A2.7B-shaped int4 model if it was
 * built into .pickban/models (BENCH_MODEL_DIRS, comma-separated, names other real-size models).
 * Decode tokens/s = 1000 / the median time between consecutive streamed tokens (B=1: one step each),
 * so prefill and the first token are not counted and one slow step does not move it.
 */
import { cpus, loadavg } from 'node:os';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeSection } from '../../../bench/benchmarks-md.ts';
import { getTinyModel } from '../../testing/tiny-model.ts';
import { createEngine } from '../core.ts';
import { collect, request, routing } from '../testing.ts';
import type { Engine } from '../types.ts';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';

interface Settings {
  runs: number;
  decodeTokens: number;
  prefillWords: number;
}
const SMALL: Settings = { runs: Number(process.env.BENCH_RUNS ?? 5), decodeTokens: Number(process.env.BENCH_DECODE_TOKENS ?? 64), prefillWords: 400 };
// A real-size model decodes a few tokens per second on 2 cores: fewer, shorter runs.
const LARGE: Settings = { runs: Number(process.env.BENCH_LARGE_RUNS ?? 3), decodeTokens: Number(process.env.BENCH_LARGE_DECODE_TOKENS ?? 16), prefillWords: 100 };
const ROOT = resolve(import.meta.dirname, '../../../..');
const DEFAULT_LARGE_MODEL = join(ROOT, '.pickban/models/qwen1.5-moe-a2.7b-shaped-int4');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

type Strategy = { name: string; routing: (L: number, E: number, K: number) => ResolvedRouting };
const STRATEGIES: Strategy[] = [
  { name: 'top_k', routing: (L, E, K) => routing(L, E, { topK: K }) },
  { name: 'pick (keys 0,1 every layer, λ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'pick', topK: K, lambda: 0.5, keyExperts: Object.fromEntries(Array.from({ length: L }, (_, l) => [l, [0, 1]])) }) },
  { name: 'ban (τ=0.9)', routing: (L, E, K) => routing(L, E, { strategy: 'ban', topK: K, tau: 0.9 }) },
  { name: 'ban (τ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'ban', topK: K, tau: 0.5 }) },
  { name: 'pick_and_ban (keys 0,1, τ=0.5)', routing: (L, E, K) => routing(L, E, { strategy: 'pick_and_ban', topK: K, tau: 0.5, keyExperts: Object.fromEntries(Array.from({ length: L }, (_, l) => [l, [0, 1]])) }) },
];

/** One request; besides its total time, the median time per token between streamed deltas (decode steps). */
async function timed(engine: Engine, r: ResolvedRouting, prompt: string, maxTokens: number) {
  const t0 = performance.now();
  const at: number[] = [];
  const c = await collect(await engine.submit(request(r, { prompt, maxTokens })), () => at.push(performance.now()));
  if (c.error) throw new Error(c.error);
  // A delta may carry several tokens (held-back text): its interval is spread over them.
  const perToken: number[] = [];
  for (let k = 1; k < at.length; k++) for (let t = 0; t < c.deltaTokens[k]; t++) perToken.push((at[k] - at[k - 1]) / c.deltaTokens[k]);
  return { ms: performance.now() - t0, perToken, tokens: c.usage!.completion_tokens, promptTokens: c.usage!.prompt_tokens, stats: c.usage!.routing };
}

async function benchModel(modelDir: string, label: string, { runs: RUNS, decodeTokens: DECODE_TOKENS, prefillWords: PREFILL_WORDS }: Settings): Promise<string[]> {
  const t0 = performance.now();
  const engine = await createEngine({ modelDir, limits: { maxRunningSeqs: 4, maxQueuedSeqs: 4, maxKvTokens: 16384, maxPrefillChunk: 1024, maxBatchTokens: 1024 } });
  const loadS = (performance.now() - t0) / 1000;
  const { numLayers: L, numExperts: E } = engine.manifest.architecture;
  const K = engine.manifest.routing.defaultTopK;
  const longPrompt = Array.from({ length: PREFILL_WORDS }, (_, i) => `word${i % 97}`).join(' ');
  const prompt = 'Tell me a long story about a lighthouse keeper.';
  // Warm-up: first-run costs (JIT, ORT allocations for new shapes) are not what is measured.
  await timed(engine, routing(L, E, { topK: K }), longPrompt, 1);
  await timed(engine, routing(L, E, { topK: K }), prompt, DECODE_TOKENS);
  const prefill: number[] = [];
  let promptTokens = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await timed(engine, routing(L, E, { topK: K }), longPrompt, 1);
    prefill.push(r.ms);
    promptTokens = r.promptTokens;
  }
  const strategies = STRATEGIES.filter((s) => engine.manifest.routing.strategies.includes(s.routing(L, E, K).strategy));
  const perToken = strategies.map(() => [] as number[]);
  const experts: number[] = [];
  const tokens: number[] = [];
  for (const s of strategies) await timed(engine, s.routing(L, E, K), prompt, 4); // each strategy's path once
  // Round-robin over strategies, so drift (page cache, other load on the machine) hits them alike.
  for (let i = 0; i < RUNS; i++) {
    for (const [j, s] of strategies.entries()) {
      const r = await timed(engine, s.routing(L, E, K), prompt, DECODE_TOKENS);
      perToken[j].push(...r.perToken);
      experts[j] = r.stats.experts_per_token.completion;
      tokens[j] = r.tokens;
    }
  }
  const rows = strategies.map((s, j) => {
    // The median inter-token time: one slow step (GC, another process) does not move it.
    const msPerToken = median(perToken[j]);
    console.log(`${label} ${s.name}: ${(1000 / msPerToken).toFixed(1)} tok/s decode, ${experts[j].toFixed(2)} experts/token (${perToken[j].length} intervals)`);
    return `| ${label} | decode, ${s.name} | ${(1000 / msPerToken).toFixed(1)} | ${msPerToken.toFixed(2)} | ${experts[j].toFixed(2)} | ${tokens[j]} × ${RUNS} |`;
  });
  const prefillMs = median(prefill);
  console.log(`${label} prefill: ${(promptTokens / (prefillMs / 1000)).toFixed(0)} tok/s (${promptTokens} tokens)`);
  await engine.shutdown(0);
  return [
    `| ${label} | load + warm-up (peak RSS so far: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB) | | ${(loadS * 1000).toFixed(0)} (once) | | |`,
    `| ${label} | prefill of ${promptTokens} tokens | ${(promptTokens / (prefillMs / 1000)).toFixed(0)} | ${prefillMs.toFixed(1)} (whole prompt) | | |`,
    ...rows,
  ];
}

async function main() {
  const large = process.env.BENCH_MODEL_DIRS !== undefined ? process.env.BENCH_MODEL_DIRS.split(',').filter(Boolean) : existsSync(join(DEFAULT_LARGE_MODEL, 'manifest.json')) ? [DEFAULT_LARGE_MODEL] : [];
  const models = [
    ...(await Promise.all((['fp32', 'int4'] as const).map(async (dtype) => ({ dir: (await getTinyModel({ dtype })).modelDir, label: `tiny ${dtype}`, settings: SMALL })))),
    ...large.map((d) => ({ dir: d, label: basename(d), settings: LARGE })),
  ];
  const loadBefore = loadavg()[0];
  const rows: string[] = [];
  for (const m of models) rows.push(...(await benchModel(m.dir, m.label, m.settings)));
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const lines = [
    '## Engine (`npm run bench:engine`)',
    '',
    `Engine API directly (no HTTP), CPU EP (2 intra-op threads by ORT's default here), greedy, one sequence. Decode: 1000 / the median time between consecutive streamed tokens (one token per step at B=1), over n = ${SMALL.decodeTokens} (tiny) or ${LARGE.decodeTokens} (real-size) tokens per run; prefill and the first token are excluded. Prefill tokens/s = prompt tokens / time to a 1-token completion. Experts per token: completion tokens, from the graph's expert masks (usage.routing). Runs: ${SMALL.runs} (tiny) / ${LARGE.runs} (real-size), taken round-robin over the strategies so drift (page cache of the memory-mapped weights, other load) hits all alike.`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}, 1-min load average ${loadBefore.toFixed(1)} before / ${loadavg()[0].toFixed(1)} after. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Peak RSS of the bench process: ${peakRssMb.toFixed(0)} MB. Command: \`npm run bench:engine\` (BENCH_RUNS, BENCH_DECODE_TOKENS, BENCH_LARGE_RUNS, BENCH_LARGE_DECODE_TOKENS; BENCH_MODEL_DIRS replaces the default real-size model, .pickban/models/qwen1.5-moe-a2.7b-shaped-int4, when present).`,
    '',
    '| model | workload | tokens/s | ms per token | experts per token | completion tokens × runs |',
    '|---|---|---|---|---|---|',
    ...rows,
  ];
  writeSection(join(ROOT, 'BENCHMARKS.md'), 'engine', lines);
  console.log(lines.join('\n'));
}

await main();
