import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCheckpoint } from './generator.ts';
import { PRESETS, type CheckpointShape, type PresetName } from './presets.ts';
import { setThreads, threadCount } from './worker-pool.ts';

/** `npm run generate -- --out <dir> --preset tiny|a2.7b [--threads N] [overrides]`: writes an HF Qwen2MoE checkpoint. */

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got '${v}'`);
  return n;
};

export function parseGenerateArgs(argv: string[]): { outDir: string; shape: CheckpointShape; seed: number; threads?: number } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      out: { type: 'string' }, preset: { type: 'string', default: 'tiny' }, seed: { type: 'string', default: '0' },
      layers: { type: 'string' }, hidden: { type: 'string' }, heads: { type: 'string' }, 'kv-heads': { type: 'string' },
      experts: { type: 'string' }, 'top-k': { type: 'string' }, 'moe-intermediate': { type: 'string' },
      'shared-intermediate': { type: 'string' }, dtype: { type: 'string' }, threads: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out <dir> is required');
  if (!(values.preset! in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got '${values.preset}'`);
  if (values.dtype !== undefined && values.dtype !== 'fp32' && values.dtype !== 'bf16') throw new Error(`--dtype must be fp32 or bf16, got '${values.dtype}'`);
  const base = PRESETS[values.preset as PresetName];
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got '${values.seed}'`);
  const shape: CheckpointShape = {
    ...base,
    layers: int('layers', values.layers) ?? base.layers,
    hidden: int('hidden', values.hidden) ?? base.hidden,
    heads: int('heads', values.heads) ?? base.heads,
    kvHeads: int('kv-heads', values['kv-heads']) ?? (values.heads ? Number(values.heads) : base.kvHeads),
    experts: int('experts', values.experts) ?? base.experts,
    topK: int('top-k', values['top-k']) ?? base.topK,
    moeIntermediate: int('moe-intermediate', values['moe-intermediate']) ?? base.moeIntermediate,
    sharedIntermediate: int('shared-intermediate', values['shared-intermediate']) ?? base.sharedIntermediate,
    dtype: (values.dtype as 'fp32' | 'bf16' | undefined) ?? base.dtype,
  };
  return { outDir: values.out, shape, seed, threads: int('threads', values.threads) };
}

// Run only as a script, so tests can import the argument parser.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const opts = parseGenerateArgs(process.argv.slice(2));
    if (opts.threads) setThreads(opts.threads);
    const t0 = performance.now();
    const files = generateCheckpoint(opts);
    console.log(`wrote ${files.length} files to ${opts.outDir} in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${threadCount()} threads`);
  } catch (err) {
    console.error(`generate: ${(err as Error).message}`);
    process.exit(1);
  }
}
