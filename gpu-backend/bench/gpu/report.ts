import { renameSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { env as ortEnv } from 'onnxruntime-node';
import type { EngineLimits } from '../../src/engine/types.ts';
import type { BenchOptions } from './args.ts';
import type { GpuInfo, GpuUsedMiB } from './gpu-memory.ts';
import type { ConcurrentResult, DecodeResult } from './measure.ts';

/** The JSON the benchmark writes (after every section, so a killed run still leaves what it measured). */
export interface BenchResults {
  tool: 'bench-gpu';
  status: 'running' | 'complete' | 'budget-exceeded' | 'interrupted' | 'failed';
  error?: string;
  date: string;
  command: string;
  elapsedS: number;
  machine: ReturnType<typeof machineInfo>;
  options: BenchOptions;
  model?: { dir: string; modelId: string; weights: string; kvDtype: string; graph: string | undefined; numLayers: number; numExperts: number; topK: number };
  limits?: EngineLimits;
  /** Load + the engine's warm-up step. */
  load?: { ms: number; rssAfterMiB: number };
  singleStream?: Section<SingleStreamResult>;
  prefill?: Section<PrefillResult>[];
  strategies?: Section<StrategyResult>[];
  aggregate?: Section<AggregateResult>[];
  /** GPU figures are MiB used per GPU (nvidia-smi, so other processes count too); null without nvidia-smi. */
  memory: { gpuUsedBeforeLoadMiB: GpuUsedMiB | null; gpuUsedAfterLoadMiB: GpuUsedMiB | null; gpuPeakMiB: GpuUsedMiB | null; peakRssMiB: number };
  /** Sections not started because --max-seconds ran out. */
  skipped: string[];
}

export type SingleStreamResult = { decodeTokens: number; tokS: number; msPerToken: number; runs: DecodeResult[] };
/** runs: ms per run, submit to the 1-token completion. */
export type PrefillResult = { targetTokens: number; promptTokens: number; tokS: number; ms: number; runs: number[] };
export type StrategyResult = { name: string; tokS: number; msPerToken: number; expertsPerToken: number; runs: DecodeResult[] };
export type AggregateResult = { streams: number; aggregateTokS: number; perStreamTokS: number; endToEndTokS: number; ttftMedianMs: number; runs: ConcurrentResult[] };

/** A section's result, or why it has none (with what identifies it); gpuPeakMiB is the peak while it ran. */
export type Section<T> = (T | ({ error: string } & Partial<T>)) & { gpuPeakMiB?: GpuUsedMiB | null };

export function machineInfo(gpus: GpuInfo[] | null) {
  const cpu = cpus();
  return {
    os: `${platform()} ${release()}`,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cpuCount: cpu.length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    gpus,
    node: process.version,
    onnxruntimeNode: ortEnv.versions.node ?? ortEnv.versions.common,
  };
}

export const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** Written to a temporary name and renamed, so a kill mid-write never leaves half a file. */
export function writeResults(path: string, results: BenchResults): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(results, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

const f = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const gib = (m: GpuUsedMiB | null | undefined) => (m?.length ? m.map((x) => (x / 1024).toFixed(1)).join(' / ') + ' GiB' : 'n/a');
const ok = <T extends object>(s: Section<T> | undefined): T | undefined => (s && !('error' in s) ? (s as T) : undefined);
const err = (s: object | undefined) => (s && 'error' in s ? ` (error: ${(s as { error: string }).error})` : '');

/** The readable summary: markdown tables, ready to paste into BENCHMARKS.md. */
export function formatTables(r: BenchResults): string {
  const m = r.model;
  const lines = [
    `bench-gpu ${r.status}${r.error ? ` (${r.error})` : ''}: ${m?.modelId ?? r.options.modelDir} (${m?.weights ?? '?'} weights, ${m?.kvDtype ?? '?'} KV) on ${r.options.ep}, ${f(r.elapsedS, 0)} s`,
    `Machine: ${r.machine.cpuCount} × ${r.machine.cpuModel}, ${r.machine.gpus?.map((g) => `${g.name} (driver ${g.driver}, ${(g.memoryTotalMiB / 1024).toFixed(0)} GiB)`).join(', ') || 'no nvidia-smi'}, Node ${r.machine.node}, onnxruntime-node ${r.machine.onnxruntimeNode}, ${r.date}`,
    `Command: ${r.command}`,
    `Load + warm-up: ${f(r.load?.ms, 0)} ms; GPU memory used: ${gib(r.memory.gpuUsedBeforeLoadMiB)} before load, ${gib(r.memory.gpuUsedAfterLoadMiB)} after, ${gib(r.memory.gpuPeakMiB)} peak; peak RSS ${r.memory.peakRssMiB} MiB`,
    '',
    '| workload | tokens/s | ms per token | detail | GPU peak |',
    '|---|---|---|---|---|',
  ];
  const s = ok(r.singleStream);
  if (r.singleStream) lines.push(`| decode, 1 stream (top_k) | ${f(s?.tokS)} | ${f(s?.msPerToken, 2)} | ${s ? `${s.decodeTokens} tokens × ${s.runs.length} runs` : ''}${err(r.singleStream)} | ${gib(r.singleStream.gpuPeakMiB)} |`);
  for (const p of r.prefill ?? []) {
    const v = ok(p);
    lines.push(`| prefill ${v?.promptTokens ?? p.targetTokens} tokens | ${f(v?.tokS, 0)} | ${f(v?.ms)} (whole prompt) | ${v ? `target ${v.targetTokens}, ${v.runs.length} runs` : ''}${err(p)} | ${gib(p.gpuPeakMiB)} |`);
  }
  if (r.aggregate?.length) {
    lines.push('', '| streams | aggregate decode tokens/s | per stream tokens/s | end-to-end tokens/s | TTFT median ms | runs | GPU peak |', '|---|---|---|---|---|---|---|');
    for (const a of r.aggregate) {
      const v = ok(a);
      lines.push(`| ${a.streams} | ${f(v?.aggregateTokS)} | ${f(v?.perStreamTokS, 2)} | ${f(v?.endToEndTokS)} | ${f(v?.ttftMedianMs, 0)} | ${v?.runs.length ?? 0}${err(a)} | ${gib(a.gpuPeakMiB)} |`);
    }
  }
  if (r.strategies?.length) {
    lines.push('', '| routing strategy (1 stream) | decode tokens/s | ms per token | experts per token | GPU peak |', '|---|---|---|---|---|');
    for (const st of r.strategies) {
      const v = ok(st);
      lines.push(`| ${st.name} | ${f(v?.tokS)} | ${f(v?.msPerToken, 2)} | ${f(v?.expertsPerToken, 2)}${err(st)} | ${gib(st.gpuPeakMiB)} |`);
    }
  }
  if (r.skipped.length) lines.push('', `Skipped (--max-seconds): ${r.skipped.join(', ')}`);
  return lines.join('\n');
}
