import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelInfo } from '../../../shared/openai/responses.ts';
import type { RoutingLimits } from '../../../shared/routing/schema.ts';
import type { Manifest } from '../model/contract.ts';

/** Names of <modelDir>/<profilesDir>/*.json (none if the folder is absent). */
export async function listProfiles(modelDir: string, manifest: Manifest): Promise<string[]> {
  try {
    const files = await readdir(join(modelDir, manifest.profilesDir));
    return files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function routingLimits(manifest: Manifest, profiles: string[]): RoutingLimits {
  const arch = manifest.architecture;
  return {
    num_layers: arch.numLayers,
    num_experts: arch.numExperts,
    default_top_k: manifest.routing.defaultTopK,
    max_top_k: manifest.routing.maxTopK,
    strategies: manifest.routing.strategies,
    profiles,
    renormalize_default: arch.normTopkProb,
  };
}

/** The /v1/models entry: OpenAI's fields plus the architecture numbers and routing limits. */
export function buildModelInfo(manifest: Manifest, profiles: string[], created: number): ModelInfo {
  const arch = manifest.architecture;
  return {
    id: manifest.modelId,
    object: 'model',
    created,
    owned_by: 'pickban',
    architecture: {
      model_type: arch.modelType,
      num_layers: arch.numLayers,
      hidden_size: arch.hiddenSize,
      num_heads: arch.numHeads,
      num_kv_heads: arch.numKvHeads,
      head_dim: arch.headDim,
      num_experts: arch.numExperts,
      num_experts_per_tok: arch.numExpertsPerTok,
      moe_intermediate_size: arch.moeIntermediateSize,
      shared_expert_intermediate_size: arch.sharedExpertIntermediateSize,
      vocab_size: arch.vocabSize,
      context_length: arch.maxPositionEmbeddings,
      weight_dtype: manifest.weights.dtype,
    },
    routing: routingLimits(manifest, profiles),
  };
}
