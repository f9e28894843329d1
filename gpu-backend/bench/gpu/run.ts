import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../../src/engine/index.ts';
import type { Engine, EngineLimits } from '../../src/engine/types.ts';
import { MANIFEST_FILE, ManifestSchema } from '../../src/model/contract.ts';
import { LARGE_CONCURRENCY, type BenchOptions } from './args.ts';
import { GpuMemorySampler, gpuInfo, gpuUsedNow } from './gpu-memory.ts';
import { decodeConcurrent, decodeSingle, median, prefillOnce, promptOfTokens, type ConcurrentResult, type DecodeResult } from './measure.ts';
import { formatTables, machineInfo, peakRssMiB, writeResults, type AggregateResult, type BenchResults, type PrefillResult, type Section, type SingleStreamResult, type StrategyResult } from './report.ts';
import { defaultRouting, strategiesFor } from './strategies.ts';

/**
 * One engine, loaded once, measured section by section: single-stream decode, prefill, each routing
 * strategy, then C concurrent streams in ascending C (the largest last: it is the slowest and the
 * likeliest to fail). The JSON is rewritten after every section; --max-seconds stops new ones.
 */

const SHORT_PROMPT = 'Tell me a long story about a lighthouse keeper.';
const streamPrompt = (i: number) => `Tell me a long story about lighthouse keeper number ${i + 1}, who kept light ${(i * 37) % 101}.`;
/** KV tokens each concurrent stream's short prompt may take (the prompts above are ~20). */
const SHORT_PROMPT_ALLOWANCE = 64;

/** Limits sized so that every section fits at once: max streams × (prompt + decode), and the longest prefill in one chunk. */
export function benchLimits(o: BenchOptions): EngineLimits {
  const maxStreams = Math.max(...o.streams, 1);
  const maxPrefill = Math.max(...o.prefill);
  const maxPrefillChunk = o.prefillChunk ?? maxPrefill + 64;
  return {
    maxRunningSeqs: maxStreams,
    maxQueuedSeqs: maxStreams,
    maxKvTokens: o.maxKvTokens ?? Math.max(maxStreams * (SHORT_PROMPT_ALLOWANCE + o.decodeTokens), maxPrefill + 256 + o.decodeTokens),
    maxPrefillChunk,
    maxBatchTokens: o.batchTokens ?? Math.max(maxPrefillChunk, maxStreams),
  };
}

export async function runBench(o: BenchOptions, log: (line: string) => void = console.log): Promise<BenchResults> {
  const t0 = performance.now();
  const elapsedS = () => (performance.now() - t0) / 1000;
  const progress = (msg: string) => log(`[bench-gpu ${elapsedS().toFixed(1)}s] ${msg}`);
  const gpus = gpuInfo();
  const sampler = new GpuMemorySampler();
  const r: BenchResults = {
    tool: 'bench-gpu',
    status: 'running',
    date: new Date().toISOString(),
    command: process.argv.join(' '),
    elapsedS: 0,
    machine: machineInfo(gpus),
    options: o,
    memory: { gpuUsedBeforeLoadMiB: null, gpuUsedAfterLoadMiB: null, gpuPeakMiB: null, peakRssMiB: 0 },
    skipped: [],
  };
  const save = () => {
    r.elapsedS = +elapsedS().toFixed(1);
    r.memory = { ...r.memory, gpuPeakMiB: sampler.overallPeak(), peakRssMiB: peakRssMiB() };
    writeResults(o.out, r);
  };
  /** Runs one section unless the budget is spent; an error is recorded in place of the result. */
  const section = async <T>(label: string, fn: () => Promise<T>, onError: (error: string) => T) => {
    if (elapsedS() > o.maxSeconds) {
      r.skipped.push(label);
      r.status = 'budget-exceeded';
      progress(`skip ${label}: --max-seconds ${o.maxSeconds} spent`);
      return undefined;
    }
    progress(`start ${label}`);
    sampler.sectionPeak();
    let value: T;
    try {
      value = await fn();
    } catch (e) {
      progress(`${label} failed: ${(e as Error).message}`);
      value = onError((e as Error).message.split('\n')[0]);
    }
    // Which graphs (operating points) this section's steps ran on, so far.
    if (engine) progress(`${label} done; graph runs so far ${JSON.stringify(engine.snapshot().graphRuns)}, host reads ${engine.snapshot().hostReads}`);
    return { value, gpuPeakMiB: sampler.sectionPeak() };
  };
  // A host's timeout sends SIGTERM: keep what was measured and say so.
  const onSignal = (signal: NodeJS.Signals) => {
    r.status = 'interrupted';
    r.error = `received ${signal}`;
    save();
    log(formatTables(r));
    void sampler.stop().finally(() => process.exit(130));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let engine: Engine | undefined;
  try {
    const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(o.modelDir, MANIFEST_FILE), 'utf8')));
    const a = manifest.architecture;
    r.model = { dir: o.modelDir, modelId: manifest.modelId, weights: manifest.weights.dtype, kvDtype: manifest.kvDtype, graph: manifest.graphs[o.ep], numLayers: a.numLayers, numExperts: a.numExperts, topK: manifest.routing.defaultTopK };
    r.limits = benchLimits(o);
    r.memory.gpuUsedBeforeLoadMiB = gpuUsedNow();
    if (sampler.start(200)) progress(`sampling GPU memory every 200 ms (${gpus?.map((g) => g.name).join(', ')})`);
    progress(`loading ${o.modelDir} on ${o.ep} (limits ${JSON.stringify(r.limits)})`);
    const tLoad = performance.now();
    engine = await createEngine({ modelDir: o.modelDir, executionProvider: o.ep, limits: r.limits, threads: o.threads, denseMinTokens: o.denseMinTokens, decodeWindow: o.decodeWindow, logger: { info: (obj, msg) => progress(`${msg ?? ''} ${JSON.stringify(obj)}`), warn: (obj, msg) => progress(`warn: ${msg ?? ''} ${JSON.stringify(obj)}`), error: (obj, msg) => progress(`error: ${msg ?? ''} ${JSON.stringify(obj)}`) } });
    r.load = { ms: Math.round(performance.now() - tLoad), rssAfterMiB: peakRssMiB() };
    r.memory.gpuUsedAfterLoadMiB = gpuUsedNow();
    progress(`loaded in ${r.load.ms} ms`);
    save();
    const eng = engine;
    const topK = defaultRouting(manifest);

    const single = await section<Section<SingleStreamResult>>(
      'single-stream decode',
      async () => {
        await decodeSingle(eng, topK, SHORT_PROMPT, o.decodeTokens); // warm-up: first-run costs of new shapes
        const runs: DecodeResult[] = [];
        for (let i = 0; i < o.runs; i++) {
          runs.push(await decodeSingle(eng, topK, SHORT_PROMPT, o.decodeTokens));
          progress(`single stream run ${i + 1}/${o.runs}: ${runs.at(-1)!.tokS.toFixed(1)} tok/s (${runs.at(-1)!.completionTokens} tokens)`);
        }
        const tokS = median(runs.map((x) => x.tokS));
        return { decodeTokens: o.decodeTokens, tokS, msPerToken: 1000 / tokS, runs };
      },
      (error) => ({ error }),
    );
    if (single) r.singleStream = { ...single.value, gpuPeakMiB: single.gpuPeakMiB };
    save();

    r.prefill = [];
    for (const target of o.prefill) {
      const s = await section<Section<PrefillResult>>(
        `prefill ${target}`,
        async () => {
          const { prompt, promptTokens } = await promptOfTokens(eng, topK, target);
          const runs: number[] = [];
          for (let i = 0; i < o.runs; i++) runs.push((await prefillOnce(eng, topK, prompt)).ms);
          const ms = median(runs);
          progress(`prefill ${promptTokens} tokens: ${ms.toFixed(1)} ms, ${(promptTokens / (ms / 1000)).toFixed(0)} tok/s`);
          return { targetTokens: target, promptTokens, tokS: promptTokens / (ms / 1000), ms, runs };
        },
        (error) => ({ error, targetTokens: target }),
      );
      if (s) r.prefill.push({ ...s.value, gpuPeakMiB: s.gpuPeakMiB });
      save();
    }

    r.strategies = [];
    if (o.strategies === 'all') {
      const strategies = strategiesFor(manifest);
      const s = await section<Section<StrategyResult>[]>(
        `routing strategies (${strategies.length})`,
        async () => {
          for (const st of strategies) await decodeSingle(eng, st.routing, SHORT_PROMPT, 4); // each strategy's path once
          const runs = strategies.map(() => [] as DecodeResult[]);
          // Round-robin, so drift (clocks, other load) hits every strategy alike.
          for (let i = 0; i < o.runs; i++) {
            for (const [j, st] of strategies.entries()) {
              runs[j].push(await decodeSingle(eng, st.routing, SHORT_PROMPT, o.decodeTokens));
              progress(`${st.name} run ${i + 1}/${o.runs}: ${runs[j].at(-1)!.tokS.toFixed(1)} tok/s, ${runs[j].at(-1)!.expertsPerToken.toFixed(2)} experts/token`);
            }
          }
          return strategies.map((st, j) => {
            const tokS = median(runs[j].map((x) => x.tokS));
            return { name: st.name, tokS, msPerToken: 1000 / tokS, expertsPerToken: median(runs[j].map((x) => x.expertsPerToken)), runs: runs[j] };
          });
        },
        (error) => strategies.map((st) => ({ error, name: st.name })),
      );
      if (s) r.strategies = s.value.map((x) => ({ ...x, gpuPeakMiB: s.gpuPeakMiB }));
      save();
    }

    r.aggregate = [];
    for (const streams of o.streams) {
      const runsWanted = streams >= LARGE_CONCURRENCY ? o.runsLarge : o.runs;
      const s = await section<Section<AggregateResult>>(
        `aggregate decode, ${streams} streams`,
        async () => {
          // Warm-up at this batch size: ORT's first run of a new shape allocates (and on WebGPU compiles).
          await decodeConcurrent(eng, topK, streams, Math.min(8, o.decodeTokens), streamPrompt);
          const runs: ConcurrentResult[] = [];
          for (let i = 0; i < runsWanted; i++) {
            const c = await decodeConcurrent(eng, topK, streams, o.decodeTokens, streamPrompt);
            runs.push(c);
            progress(`${streams} streams run ${i + 1}/${runsWanted}: ${c.aggregateTokS.toFixed(1)} tok/s aggregate, ${c.perStreamTokS.toFixed(2)} per stream, TTFT median ${c.ttftMedianMs.toFixed(0)} ms${c.endedEarly ? `, ${c.endedEarly} ended early` : ''}`);
          }
          return {
            streams,
            aggregateTokS: median(runs.map((x) => x.aggregateTokS)),
            perStreamTokS: median(runs.map((x) => x.perStreamTokS)),
            endToEndTokS: median(runs.map((x) => x.endToEndTokS)),
            ttftMedianMs: median(runs.map((x) => x.ttftMedianMs)),
            runs,
          };
        },
        (error) => ({ error, streams }),
      );
      if (s) r.aggregate.push({ ...s.value, gpuPeakMiB: s.gpuPeakMiB });
      save();
    }
    if (r.status === 'running') r.status = 'complete';
  } catch (e) {
    r.status = 'failed';
    r.error = (e as Error).message.split('\n')[0];
    progress(`failed: ${r.error}`);
  } finally {
    await engine?.shutdown(1000).catch(() => undefined);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    save();
    await sampler.stop();
  }
  return r;
}
