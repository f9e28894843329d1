import type { SamplingParams } from '../types.ts';
import { logitsProcessors, softmax, type LogitsProcessor } from './logits-processors.ts';
import { createRng, type Rng } from './prng.ts';

/** Picks the next token of one row from its logits (left unmodified). */
export interface Sampler {
  /** Greedy samplers take the graph's greedy_ids (its ArgMax) instead, so the logits need not leave the GPU. */
  readonly greedy: boolean;
  sample(logits: Float32Array): number;
}

/** Highest logit; the lowest id wins a tie so greedy output never depends on anything else. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export class GreedySampler implements Sampler {
  readonly greedy = true;
  sample(logits: Float32Array): number {
    return argmax(logits);
  }
}

export class MultinomialSampler implements Sampler {
  readonly greedy = false;
  constructor(
    private readonly processors: LogitsProcessor[],
    private readonly rng: Rng,
  ) {}

  sample(logits: Float32Array): number {
    // Processors write in place; the caller's logits may be a view into the step's output.
    if (this.processors.length > 0) logits = logits.slice();
    for (const process of this.processors) process(logits);
    const probs = softmax(logits);
    const u = this.rng();
    let cumulative = 0;
    let last = 0;
    for (let i = 0; i < probs.length; i++) {
      if (probs[i] === 0) continue;
      cumulative += probs[i];
      last = i;
      if (u < cumulative) return i;
    }
    return last; // u landed in the rounding gap at the top
  }
}

/** Greedy for temperature 0, otherwise processors + a seeded draw (one RNG per sequence). */
export function createSampler(params: Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'seed'>): Sampler {
  if (params.temperature === 0) return new GreedySampler();
  return new MultinomialSampler(logitsProcessors(params), createRng(params.seed));
}
