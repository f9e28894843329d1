import { basename } from 'node:path';
import { MANIFEST_FILE, ManifestSchema, type ExecutionProvider, type Manifest, type WeightDtype } from '../model/contract.ts';
import type { RoutingStrategy } from '../../../shared/routing/schema.ts';
import type { SourceCheckpoint } from './source.ts';

/** The manifest.json of a converted model: architecture, formats, tokenizer and routing ranges. */

export { MANIFEST_FILE };

const ids = (v: unknown): number[] => (Array.isArray(v) ? v.filter(Number.isInteger) : Number.isInteger(v) ? [v as number] : []);

/** HF tokenizer configs hold one template string, or a list of named ones (use "default"). */
function chatTemplateOf(tokenizerConfig: Record<string, unknown>): string | null {
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return (t.find((x) => x?.name === 'default') ?? t[0])?.template ?? null;
  return null;
}

export interface ManifestOptions {
  source: SourceCheckpoint;
  dtype: WeightDtype;
  blockSize?: number;
  /** The graphs' KV type (their activations'); default float32. */
  kvDtype?: 'float32' | 'float16';
  maxTopK: number;
  graphs: Partial<Record<ExecutionProvider, string>>;
  throughputGraphs?: Manifest['throughputGraphs'];
  topKGraphs?: Manifest['topKGraphs'];
  graphInfo?: Manifest['graphInfo'];
  strategies: readonly RoutingStrategy[];
}

export function buildManifest({ source, dtype, blockSize, maxTopK, graphs, throughputGraphs, topKGraphs, graphInfo, strategies, kvDtype }: ManifestOptions): Manifest {
  const { config, generationConfig: gen } = source;
  const eos = [...new Set([...ids(gen.eos_token_id), ...ids(config.eos_token_id)])];
  const pad = ids(gen.pad_token_id)[0] ?? ids(config.pad_token_id)[0] ?? eos[0] ?? 0;
  const bos = ids(gen.bos_token_id)[0] ?? ids(config.bos_token_id)[0] ?? null;
  const { bos_token_id: _b, eos_token_id: _e, pad_token_id: _p, transformers_version: _t, ...generationDefaults } = gen;
  return ManifestSchema.parse({
    format: 'pickban-onnx',
    version: 1,
    modelId: typeof config._name_or_path === 'string' && config._name_or_path ? config._name_or_path : basename(source.dir),
    architecture: source.arch,
    weights: { dtype, ...(blockSize ? { blockSize } : {}) },
    graphs,
    ...(throughputGraphs ? { throughputGraphs } : {}),
    ...(topKGraphs ? { topKGraphs } : {}),
    ...(graphInfo ? { graphInfo } : {}),
    kvDtype: kvDtype ?? 'float32',
    tokenizer: { file: 'tokenizer.json', configFile: 'tokenizer_config.json' },
    chatTemplate: chatTemplateOf(source.tokenizerConfig),
    eosTokenIds: eos,
    padTokenId: pad,
    bosTokenId: bos,
    generationDefaults,
    routing: {
      strategies: [...strategies],
      defaultTopK: source.arch.numExpertsPerTok,
      maxTopK,
      lambdaRange: [0, 1],
      tauRange: [0, 1],
    },
    profilesDir: 'profiles',
    source: { checkpoint: source.dir, dtypes: source.sourceDtypes },
  });
}
