/**
 * `npm run bench:serve`: the backend over HTTP with the tiny model on the CPU. For 1, 8 and 32
 * concurrent greedy streams: aggregate completion tokens/s and p50/p99 time to first token, as the
 * edge would see them (signed requests, SSE parsing). Several runs per level, medians reported.
 * The backend runs as its own process (as in production), so the client's SSE parsing does not
 * share its event loop. Results go to the "Backend serving" section of BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { signedFetch } from '../src/server/signed-client.ts';
import { sseData } from '../src/server/sse-client.ts';
import { getTinyModel } from '../src/testing/tiny-model.ts';
import { startBackendProcess } from './backend-process.ts';
import { writeSection } from './benchmarks-md.ts';

const LEVELS = [1, 8, 32];
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 32);
const ROOT = resolve(import.meta.dirname, '../..');

interface StreamResult { ttftMs: number; tokens: number }
interface RunResult { tokensPerS: number; ttftP50: number; ttftP99: number; tokens: number; wallMs: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function oneStream(base: string, secret: string, model: string, i: number): Promise<StreamResult> {
  const t0 = performance.now();
  const body = { model, messages: [{ role: 'user', content: `Request ${i}: tell me a story about the number ${i}.` }], temperature: 0, max_tokens: MAX_TOKENS, stream: true, stream_options: { include_usage: true } };
  const res = await signedFetch(base, secret, '/v1/chat/completions', body);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttftMs = NaN;
  let tokens = 0;
  for await (const data of sseData(res)) {
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message);
    if (Number.isNaN(ttftMs) && chunk.choices?.[0]?.delta?.content) ttftMs = performance.now() - t0;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ttftMs, tokens };
}

async function run(base: string, secret: string, model: string, concurrency: number): Promise<RunResult> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => oneStream(base, secret, model, i)));
  const wallMs = performance.now() - t0;
  const tokens = results.reduce((n, r) => n + r.tokens, 0);
  const ttfts = results.map((r) => r.ttftMs).filter((t) => !Number.isNaN(t));
  return { tokensPerS: tokens / (wallMs / 1000), ttftP50: percentile(ttfts, 50), ttftP99: percentile(ttfts, 99), tokens, wallMs };
}

async function main() {
  const { modelDir } = await getTinyModel();
  const secret = randomBytes(32).toString('base64url');
  const backend = await startBackendProcess({ MODEL_DIR: modelDir, EP: 'cpu', BACKEND_SECRET: secret, MAX_RUNNING_SEQS: '32', MAX_QUEUED_SEQS: '64' });
  const { base } = backend;
  try {
    const models = (await (await signedFetch(base, secret, '/v1/models')).json()) as { data: { id: string }[] };
    const model = models.data[0].id;
    // Warm-up at the widest level: JIT, allocator, KV and batch-shape paths seen for the first time.
    await run(base, secret, model, LEVELS.at(-1)!);
    // Other work on the machine skews a 2-core CPU benchmark; the table records how busy it was.
    const loadBefore = loadavg()[0];
    const rows: string[] = [];
    for (const c of LEVELS) {
      const runs: RunResult[] = [];
      for (let r = 0; r < RUNS; r++) runs.push(await run(base, secret, model, c));
      const row = {
        tokensPerS: median(runs.map((x) => x.tokensPerS)),
        p50: median(runs.map((x) => x.ttftP50)),
        p99: median(runs.map((x) => x.ttftP99)),
        tokens: median(runs.map((x) => x.tokens)),
      };
      console.log(`concurrency ${c}: ${row.tokensPerS.toFixed(1)} tok/s, TTFT p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms (runs: ${runs.map((x) => x.tokensPerS.toFixed(1)).join(', ')})`);
      const tps = runs.map((x) => x.tokensPerS);
      rows.push(`| ${c} | ${row.tokensPerS.toFixed(1)} | ${Math.min(...tps).toFixed(1)}–${Math.max(...tps).toFixed(1)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.tokens} |`);
    }
    const cpu = cpus();
    writeSection(join(ROOT, 'BENCHMARKS.md'), 'serve', [
      '## Backend serving (`npm run bench:serve`)',
      '',
      `Tiny model (\`getTinyModel()\`), CPU EP, backend as a separate process over HTTP with signed requests and SSE parsing on the client. ` +
        `Greedy chat streams, max_tokens ${MAX_TOKENS}, ${RUNS} runs per level after a warm-up, medians of the per-run figures. ` +
        'Tokens/s = completion tokens of all streams / wall time of the run; TTFT = request sent to first content delta.',
      '',
      `Machine: ${cpu.length} × ${cpu[0]?.model.trim()}, Node ${process.version}, 1-min load average ${loadBefore.toFixed(1)} before / ${loadavg()[0].toFixed(1)} after. ` +
        `Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Command: \`npm run bench:serve\` (BENCH_RUNS, BENCH_MAX_TOKENS override).`,
      '',
      '| concurrent streams | tokens/s (all streams), median | tokens/s, min–max of runs | TTFT p50 (ms) | TTFT p99 (ms) | completion tokens per run |',
      '|---|---|---|---|---|---|',
      ...rows,
    ]);
  } finally {
    await backend.stop();
  }
}

await main();
