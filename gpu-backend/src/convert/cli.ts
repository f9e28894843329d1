import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ATTENTION_KINDS, EXECUTION_PROVIDERS, WEIGHT_DTYPES, type AttentionKind, type ExecutionProvider, type WeightDtype } from '../model/contract.ts';
import { convertCheckpoint, type ConvertOptions } from './convert.ts';
import type { MoeFormulation } from '../model/qwen2moe/index.ts';
import { ConvertError } from './source.ts';

/** `npm run convert -- <hf-checkpoint-dir> <model-dir> [--dtype fp32|fp16|int8|int4] [--max-top-k N] [--ep cpu|webgpu] [--moe sparse|qmoe|dense] [--attention sdpa|gqa] [--activations float16|float32]` */

const MOE_FORMULATIONS: readonly MoeFormulation[] = ['sparse', 'qmoe', 'dense'];

export function parseConvertArgs(argv: string[]): ConvertOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dtype: { type: 'string', default: 'fp32' }, 'max-top-k': { type: 'string' }, ep: { type: 'string', default: 'cpu' }, moe: { type: 'string' }, attention: { type: 'string' }, activations: { type: 'string' } },
  });
  if (positionals.length !== 2) throw new ConvertError('usage: convert <hf-checkpoint-dir> <model-dir> [--dtype fp32|fp16|int8|int4] [--max-top-k N] [--ep cpu|webgpu] [--moe sparse|qmoe|dense] [--attention sdpa|gqa] [--activations float16|float32]');
  if (values.attention !== undefined && !ATTENTION_KINDS.includes(values.attention as AttentionKind)) throw new ConvertError(`--attention must be one of ${ATTENTION_KINDS.join(', ')}, got '${values.attention}'`);
  if (values.moe !== undefined && !MOE_FORMULATIONS.includes(values.moe as MoeFormulation)) throw new ConvertError(`--moe must be one of ${MOE_FORMULATIONS.join(', ')}, got '${values.moe}'`);
  if (!WEIGHT_DTYPES.includes(values.dtype as WeightDtype)) throw new ConvertError(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got '${values.dtype}'`);
  if (!EXECUTION_PROVIDERS.includes(values.ep as ExecutionProvider)) throw new ConvertError(`--ep must be one of ${EXECUTION_PROVIDERS.join(', ')}, got '${values.ep}'`);
  const activations = values.activations;
  if (activations !== undefined && activations !== 'float16' && activations !== 'float32') throw new ConvertError(`--activations must be float16 or float32, got '${activations}'`);
  const maxTopK = values['max-top-k'] === undefined ? undefined : Number(values['max-top-k']);
  if (maxTopK !== undefined && !Number.isInteger(maxTopK)) throw new ConvertError(`--max-top-k must be an integer, got '${values['max-top-k']}'`);
  return { src: positionals[0], out: positionals[1], dtype: values.dtype as WeightDtype, ep: values.ep as ExecutionProvider, maxTopK, moe: values.moe as MoeFormulation | undefined, attention: values.attention as AttentionKind | undefined, activations };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const t0 = performance.now();
    const result = convertCheckpoint(parseConvertArgs(process.argv.slice(2)));
    const mb = (n: number) => (n / 2 ** 20).toFixed(1);
    console.log(`converted to ${result.out}: ${result.nodes} nodes, graph ${mb(result.graphBytes)} MiB, weights ${mb(result.dataBytes)} MiB, ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${mb(process.resourceUsage().maxRSS * 1024)} MiB`);
  } catch (err) {
    // One line, naming the file or tensor: the errors are written for the person running the CLI.
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.error(`convert: ${message}`);
    process.exit(1);
  }
}
