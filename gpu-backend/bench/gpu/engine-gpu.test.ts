import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getTinyModel } from '../../src/testing/tiny-model.ts';
import { ArgsError, parseBenchArgs } from './args.ts';
import { gpuInfo } from './gpu-memory.ts';
import type { BenchResults } from './report.ts';
import { runBench } from './run.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-bench-gpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseBenchArgs', () => {
  it.each([
    [[], /--model: is required/],
    [['--model', 'm', '--ep', 'tpu'], /--ep: must be one of cpu, webgpu, cuda/],
    [['--model', 'm', '--streams', '1,x,8'], /--streams: must be a comma-separated list/],
    [['--model', 'm', '--streams', '0'], /--streams: must be a comma-separated list/],
    [['--model', 'm', '--decode-tokens', '1'], /--decode-tokens: must be at least 2/],
    [['--model', 'm', '--runs', '2.5'], /--runs: must be a whole number/],
    [['--model', 'm', '--strategies', 'some'], /--strategies: must be all or none/],
    [['--model', 'm', '--max-seconds=0'], /--max-seconds: must be positive/],
    [['--model', 'm', '--bogus', '1'], /Unknown option '--bogus'/],
    [['--model'], /argument missing/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(ArgsError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it('fills the issue-6 defaults and orders the lists', () => {
    const o = parseBenchArgs(['--model', 'm', '--streams', '32,1,8,8', '--runs', '5']);
    expect(o).toMatchObject({ modelDir: 'm', ep: 'webgpu', streams: [1, 8, 32], prefill: [512, 2048], decodeTokens: 64, runs: 5, runsLarge: 2, strategies: 'all', maxSeconds: Infinity });
  });
});

describe('runBench on the tiny model (CPU)', () => {
  it('measures every section and writes well-formed results', async () => {
    const { modelDir } = await getTinyModel();
    const out = join(dir, 'results.json');
    const lines: string[] = [];
    const r = await runBench(parseBenchArgs(['--model', modelDir, '--ep', 'cpu', '--out', out, '--streams', '1,2', '--decode-tokens', '8', '--prefill', '40', '--runs', '1']), (l) => lines.push(l));
    const saved = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    expect(saved.status).toBe('complete');
    expect(saved.load!.ms).toBeGreaterThan(0);
    const single = saved.singleStream as { tokS: number };
    expect(single.tokS).toBeGreaterThan(0);
    const prefill = saved.prefill![0] as { promptTokens: number; tokS: number };
    expect(Math.abs(prefill.promptTokens - 40)).toBeLessThanOrEqual(2);
    expect(prefill.tokS).toBeGreaterThan(0);
    const aggregate = saved.aggregate as { streams: number; aggregateTokS: number; perStreamTokS: number }[];
    expect(aggregate.map((a) => a.streams)).toEqual([1, 2]);
    for (const a of aggregate) {
      expect(a.aggregateTokS).toBeGreaterThan(0);
      expect(a.perStreamTokS).toBeCloseTo(a.aggregateTokS / a.streams, 6);
    }
    const K = saved.model!.topK;
    const strategies = saved.strategies as { name: string; tokS: number; expertsPerToken: number }[];
    expect(strategies.map((s) => s.name)).toContain('ban (τ=0.5)');
    for (const s of strategies) {
      expect(s.tokS).toBeGreaterThan(0);
      expect(s.expertsPerToken).toBeGreaterThanOrEqual(1);
      expect(s.expertsPerToken).toBeLessThanOrEqual(K);
    }
    expect(strategies.find((s) => s.name === 'top_k')!.expertsPerToken).toBe(K);
    // Without nvidia-smi (CPU hosts) memory is null, not zero or a guess.
    if (gpuInfo() === null) expect(saved.memory.gpuPeakMiB).toBeNull();
    expect(saved.memory.peakRssMiB).toBeGreaterThan(0);
    expect(r.status).toBe('complete');
    expect(lines.some((l) => l.includes('start aggregate decode, 2 streams'))).toBe(true);
  }, 60_000);

  it('starts no section once --max-seconds is spent, and says which it skipped', async () => {
    const { modelDir } = await getTinyModel();
    const out = join(dir, 'budget.json');
    await runBench(parseBenchArgs(['--model', modelDir, '--ep', 'cpu', '--out', out, '--streams', '1', '--prefill', '16', '--max-seconds', '0.001']), () => {});
    const saved = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    expect(saved.status).toBe('budget-exceeded');
    expect(saved.load!.ms).toBeGreaterThan(0);
    expect(saved.singleStream).toBeUndefined();
    expect(saved.skipped).toEqual(['single-stream decode', 'prefill 16', 'routing strategies (5)', 'aggregate decode, 1 streams']);
  }, 60_000);
});
