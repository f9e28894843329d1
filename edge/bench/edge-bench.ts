import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { signRequest } from '../../shared/signing/index.ts';
import { createKey } from '../scripts/keys/store.ts';
import { startWranglerDev } from '../scripts/wrangler-dev.ts';
import { median, percentile, timeStream, type StreamTiming } from './measure.ts';
import { writeSection, type Row } from './report.ts';
import { startSseBackend } from './sse-backend.ts';

/**
 * npm run bench:edge: time to first byte and per-chunk delay through the edge under real
 * `wrangler dev`, against calling the same signed SSE backend directly, and against a bare
 * pass-through Worker under the same `wrangler dev` (the floor wrangler's local proxy sets).
 * Requests rotate between the paths so drift on a busy machine hits all of them alike.
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 5);
const REQUESTS = env('BENCH_REQUESTS', 40);
const CHUNKS = env('BENCH_CHUNKS', 32);
const INTERVAL_MS = env('BENCH_INTERVAL_MS', 5);
const PREFILL_MS = env('BENCH_PREFILL_MS', 2);
const WARMUP = 10;

const secret = randomBytes(32).toString('base64url');
const backend = await startSseBackend({ secret, chunks: CHUNKS, intervalMs: INTERVAL_MS, prefillMs: PREFILL_MS });
const persistTo = mkdtempSync(join(tmpdir(), 'pickban-bench-edge-'));
const key = await createKey({ name: 'bench', persistTo, rpm: 6000 });
const vars = { BACKEND_URLS: backend.url, BACKEND_SECRET: secret };
const edge = await startWranglerDev({ persistTo, vars });
const floor = await startWranglerDev({ persistTo: join(persistTo, 'passthrough'), vars, config: resolve(import.meta.dirname, 'passthrough/wrangler.toml') });

const body = JSON.stringify({ model: 'bench-moe', stream: true, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });
const signed = async () => ({ 'content-type': 'application/json', ...(await signRequest({ secret, method: 'POST', path: '/v1/chat/completions', body })) });
const paths = {
  direct: async () => timeStream(`${backend.url}/v1/chat/completions`, { method: 'POST', headers: await signed(), body }),
  passthrough: async () => timeStream(`${floor.url}/v1/chat/completions`, { method: 'POST', headers: await signed(), body }),
  edge: () => timeStream(`${edge.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body }),
};
type PathName = keyof typeof paths;
const NAMES = Object.keys(paths) as PathName[];

const METRICS = {
  'TTFB p50': (t: StreamTiming[]) => percentile(t.map((x) => x.ttfb), 50),
  'TTFB p99': (t: StreamTiming[]) => percentile(t.map((x) => x.ttfb), 99),
  'per-chunk delay p50': (t: StreamTiming[]) => percentile(t.flatMap((x) => x.chunkDelays), 50),
  'per-chunk delay p99': (t: StreamTiming[]) => percentile(t.flatMap((x) => x.chunkDelays), 99),
};
type Metric = keyof typeof METRICS;

try {
  for (let i = 0; i < WARMUP; i++) for (const name of NAMES) await paths[name]();
  const runs: Array<Record<PathName, Record<Metric, number>>> = [];
  for (let r = 0; r < RUNS; r++) {
    const timings = Object.fromEntries(NAMES.map((n) => [n, [] as StreamTiming[]])) as Record<PathName, StreamTiming[]>;
    for (let i = 0; i < REQUESTS; i++) for (const name of NAMES) timings[name].push(await paths[name]());
    const run = Object.fromEntries(
      NAMES.map((n) => [n, Object.fromEntries(Object.entries(METRICS).map(([m, f]) => [m, f(timings[n])]))]),
    ) as Record<PathName, Record<Metric, number>>;
    runs.push(run);
    console.log(`run ${r + 1}/${RUNS}: TTFB p50 ${NAMES.map((n) => `${n} ${run[n]['TTFB p50'].toFixed(2)}`).join(', ')} ms; chunk p99 ${NAMES.map((n) => `${n} ${run[n]['per-chunk delay p99'].toFixed(2)}`).join(', ')} ms`);
  }
  if (backend.rejected() > 0) throw new Error(`${backend.rejected()} requests failed signature verification`);

  const med = (f: (run: (typeof runs)[number]) => number) => median(runs.map(f));
  const range = (values: number[]): [number, number] => [Math.min(...values), Math.max(...values)];
  const rows: Row[] = (Object.keys(METRICS) as Metric[]).map((m) => ({
    metric: m,
    direct: med((r) => r.direct[m]),
    passthrough: med((r) => r.passthrough[m]),
    edge: med((r) => r.edge[m]),
    addedVsDirect: med((r) => r.edge[m] - r.direct[m]),
    addedVsPassthrough: med((r) => r.edge[m] - r.passthrough[m]),
    addedVsDirectRange: range(runs.map((r) => r.edge[m] - r.direct[m])),
    addedVsPassthroughRange: range(runs.map((r) => r.edge[m] - r.passthrough[m])),
  }));
  const [ttfb, , , chunkP99] = rows;
  const judge = (value: number, target: number) => `${value.toFixed(2)} ms (target ≤ ${target} ms: ${value <= target ? 'met' : 'NOT met'})`;
  const verdict =
    `through wrangler dev vs direct: added p50 TTFB ${judge(ttfb.addedVsDirect, 2)}, added p99 per-chunk delay ${judge(chunkP99.addedVsDirect, 5)}; ` +
    `the edge's own cost over a bare pass-through Worker: p50 TTFB ${judge(ttfb.addedVsPassthrough, 2)}, p99 per-chunk ${judge(chunkP99.addedVsPassthrough, 5)}`;
  console.table(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? v.toFixed(2) : Array.isArray(v) ? v.map((x) => x.toFixed(1)).join('..') : v]))));
  console.log(verdict);
  writeSection({
    machine: `${cpus().length}-core ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, wrangler 4.86.0 (local workerd)`,
    workload: `${RUNS} runs x ${REQUESTS} streamed requests per path (after ${WARMUP} warm-up rounds), ${CHUNKS} SSE chunks ${INTERVAL_MS} ms apart after a ${PREFILL_MS} ms simulated prefill; the backend verified every signature (0 rejected)`,
    rows,
    verdict,
  });
} finally {
  await Promise.all([edge.stop(), floor.stop()]);
  backend.server.close();
  rmSync(persistTo, { recursive: true, force: true });
}
