import type { RoutingStats } from '../../../../shared/openai/responses.ts';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';

export type TokenKind = 'prompt' | 'completion';

/**
 * One request's routing statistics, accumulated from the graph's expert_mask.
 *
 * Definitions (documented for usage.routing):
 * - prompt: every prompt token, each routed once when its chunk is prefilled.
 * - completion: every generated token that was fed back through the model. The final token
 *   (EOS, or the one that hit max_tokens or a stop string) is never fed back, so completion
 *   counts one token fewer than completion_tokens when generation ran to its end.
 * - experts per token of a layer: selections in that layer / tokens; overall: selections over all
 *   layers / (tokens x layers), i.e. the mean over layers.
 */
export class RoutingStatsAccumulator {
  private readonly counts: Record<TokenKind, Uint32Array>;
  private readonly tokens: Record<TokenKind, number> = { prompt: 0, completion: 0 };

  constructor(
    readonly numLayers: number,
    readonly numExperts: number,
  ) {
    const size = numLayers * numExperts;
    this.counts = { prompt: new Uint32Array(size), completion: new Uint32Array(size) };
  }

  /** Adds one token's [L, E] selection mask, starting at `offset` in the step's expert_mask. */
  addToken(expertMask: Uint8Array, offset: number, kind: TokenKind): void {
    const counts = this.counts[kind];
    for (let i = 0; i < counts.length; i++) counts[i] += expertMask[offset + i];
    this.tokens[kind]++;
  }

  tokenCount(kind: TokenKind): number {
    return this.tokens[kind];
  }

  /** Average experts per token in each layer (0 for no tokens). */
  perLayer(kind: TokenKind): number[] {
    const n = this.tokens[kind];
    return Array.from({ length: this.numLayers }, (_, l) => (n === 0 ? 0 : this.layerSelections(kind, l) / n));
  }

  countsByLayer(kind: TokenKind): number[][] {
    const E = this.numExperts;
    return Array.from({ length: this.numLayers }, (_, l) => Array.from(this.counts[kind].subarray(l * E, (l + 1) * E)));
  }

  toUsage(routing: Pick<ResolvedRouting, 'strategy' | 'topK' | 'profile' | 'stats'>): RoutingStats {
    const mean = (kinds: TokenKind[]) => {
      const tokens = kinds.reduce((s, k) => s + this.tokens[k], 0);
      const selections = kinds.reduce((s, k) => s + this.counts[k].reduce((a, b) => a + b, 0), 0);
      return tokens === 0 ? 0 : selections / (tokens * this.numLayers);
    };
    const stats: RoutingStats = {
      strategy: routing.strategy,
      top_k: routing.topK,
      experts_per_token: { prompt: mean(['prompt']), completion: mean(['completion']), overall: mean(['prompt', 'completion']) },
      per_layer: { prompt: this.perLayer('prompt'), completion: this.perLayer('completion') },
      tokens: { prompt: this.tokens.prompt, completion: this.tokens.completion },
    };
    if (routing.profile !== undefined) stats.profile = routing.profile;
    if (routing.stats === 'full') stats.counts = { prompt: this.countsByLayer('prompt'), completion: this.countsByLayer('completion') };
    return stats;
  }

  private layerSelections(kind: TokenKind, layer: number): number {
    const E = this.numExperts;
    let sum = 0;
    for (let e = 0; e < E; e++) sum += this.counts[kind][layer * E + e];
    return sum;
  }
}

/** Per-layer average experts per token over the tokens of one step (each mask [n, L, E]), for snapshot(). */
export function stepExpertsPerLayer(masks: readonly Uint8Array[], numLayers: number, numExperts: number): number[] {
  const sums = new Array<number>(numLayers).fill(0);
  const stride = numLayers * numExperts;
  let tokens = 0;
  for (const mask of masks) {
    for (let offset = 0; offset < mask.length; offset += stride, tokens++) {
      for (let l = 0; l < numLayers; l++) {
        const base = offset + l * numExperts;
        for (let e = 0; e < numExperts; e++) sums[l] += mask[base + e];
      }
    }
  }
  return sums.map((s) => (tokens === 0 ? 0 : s / tokens));
}
