import { parseArgs } from 'node:util';
import { z } from 'zod';
import { EXECUTION_PROVIDERS } from '../../src/model/contract.ts';

/**
 * The command line of `bench-gpu.mjs` (npm run bench:gpu), parsed once with zod so a bad flag fails
 * fast with one line instead of half an hour into a GPU run.
 */
export const USAGE =
  'usage: bench-gpu.mjs --model DIR [--ep webgpu|cpu] [--out results.json] [--streams 1,8,32,128,256] [--decode-tokens 64] ' +
  '[--prefill 512,2048] [--runs 3] [--runs-large N] [--strategies all|none] [--threads N] [--max-seconds S] ' +
  '[--max-kv-tokens N] [--batch-tokens N] [--prefill-chunk N] [--dense-min-tokens N] [--decode-window N]';

const positiveInt = z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1');
const intList = z.string().transform((s, ctx) => {
  const items = s.split(',').map((x) => x.trim());
  if (!items.every((x) => /^[1-9]\d*$/.test(x))) {
    ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of positive whole numbers' });
    return z.NEVER;
  }
  return [...new Set(items.map(Number))].sort((a, b) => a - b);
});

const OptionsSchema = z.object({
  model: z.string({ error: 'is required: the model directory (manifest.json)' }).min(1),
  ep: z.enum(EXECUTION_PROVIDERS, { error: `must be one of ${EXECUTION_PROVIDERS.join(', ')}` }).default('webgpu'),
  out: z.string().min(1).default('bench-gpu-results.json'),
  streams: intList.default([1, 8, 32, 128, 256]),
  'decode-tokens': positiveInt.min(2, 'must be at least 2 (intervals need two tokens)').default(64),
  prefill: intList.default([512, 2048]),
  runs: positiveInt.default(3),
  /** Runs at concurrency >= LARGE_CONCURRENCY, where one run already holds many samples. */
  'runs-large': positiveInt.optional(),
  strategies: z.enum(['all', 'none'], { error: 'must be all or none' }).default('all'),
  threads: positiveInt.optional(),
  'max-seconds': z.coerce.number({ error: 'must be a number' }).positive('must be positive').optional(),
  'max-kv-tokens': positiveInt.optional(),
  'batch-tokens': positiveInt.optional(),
  'prefill-chunk': positiveInt.optional(),
  'dense-min-tokens': positiveInt.optional(),
  'decode-window': positiveInt.optional(),
});

export const LARGE_CONCURRENCY = 64;

export interface BenchOptions {
  modelDir: string;
  ep: z.infer<typeof OptionsSchema>['ep'];
  out: string;
  streams: number[];
  decodeTokens: number;
  prefill: number[];
  runs: number;
  runsLarge: number;
  strategies: 'all' | 'none';
  threads?: number;
  maxSeconds: number;
  maxKvTokens?: number;
  batchTokens?: number;
  prefillChunk?: number;
  /** Tokens per step from which the throughput (dense-experts) graph runs; default the model's. */
  denseMinTokens?: number;
  /** Greedy decode steps run ahead of the host (EngineConfig.decodeWindow); default the engine's. */
  decodeWindow?: number;
}

export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgsError';
  }
}

/** Parses argv (without node and the script); throws ArgsError naming the first bad flag. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const flags = Object.keys(OptionsSchema.shape);
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: Object.fromEntries(flags.map((f) => [f, { type: 'string' as const }])), strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ArgsError(`${(err as Error).message}\n${USAGE}`);
  }
  const result = OptionsSchema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0];
    const flag = String(issue.path[0]);
    throw new ArgsError(`--${flag}: ${issue.message} (got ${values[flag] === undefined ? 'nothing' : `'${values[flag]}'`})\n${USAGE}`);
  }
  const o = result.data;
  return {
    modelDir: o.model,
    ep: o.ep,
    out: o.out,
    streams: o.streams,
    decodeTokens: o['decode-tokens'],
    prefill: o.prefill,
    runs: o.runs,
    runsLarge: o['runs-large'] ?? Math.min(o.runs, 2),
    strategies: o.strategies,
    threads: o.threads,
    maxSeconds: o['max-seconds'] ?? Infinity,
    maxKvTokens: o['max-kv-tokens'],
    batchTokens: o['batch-tokens'],
    prefillChunk: o['prefill-chunk'],
    denseMinTokens: o['dense-min-tokens'],
    decodeWindow: o['decode-window'],
  };
}
