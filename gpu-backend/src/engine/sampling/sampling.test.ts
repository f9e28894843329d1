import { describe, it, expect } from 'vitest';
import { createRng } from './prng.ts';
import { softmax, topKProcessor, topPProcessor, temperatureProcessor } from './logits-processors.ts';
import { argmax, createSampler, GreedySampler } from './sampler.ts';

const randomLogits = (n: number, seed: number, scale = 4) => {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * scale);
};
const kept = (logits: Float32Array) => [...logits.keys()].filter((i) => logits[i] !== -Infinity);

/** Plain reference: sort everything, keep while the mass before a token is < p. */
function referenceTopP(logits: Float32Array, p: number): number[] {
  const probs = softmax(logits);
  const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a] || a - b);
  const out: number[] = [];
  let mass = 0;
  for (const i of order) {
    if (out.length > 0 && mass >= p) break;
    out.push(i);
    mass += probs[i];
  }
  return out.sort((a, b) => a - b);
}

describe('logits processors', () => {
  it('top-p keeps exactly the nucleus of a plain sort, on small and vocabulary-sized rows', () => {
    for (const [n, seed, p] of [[10, 1, 0.5], [1000, 2, 0.9], [151936, 3, 0.95], [151936, 4, 0.3], [64, 5, 0]] as const) {
      const logits = randomLogits(n, seed, 12);
      const expected = referenceTopP(logits, p);
      topPProcessor(p)(logits);
      expect(kept(logits)).toEqual(expected);
    }
  });

  it('top-p keeps the token that crosses p', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    topPProcessor(0.6)(logits);
    expect(kept(logits)).toEqual([0, 1]);
  });

  it('top-k keeps the k largest', () => {
    const logits = Float32Array.from([0.1, 3, -2, 5, 1]);
    topKProcessor(2)(logits);
    expect(kept(logits)).toEqual([1, 3]);
  });

  it('temperature sharpens the distribution', () => {
    const logits = Float32Array.from([1, 2]);
    const before = softmax(logits)[1];
    temperatureProcessor(0.5)(logits);
    expect(softmax(logits)[1]).toBeGreaterThan(before);
  });
});

describe('samplers', () => {
  it('greedy picks the argmax, lowest id on ties', () => {
    expect(new GreedySampler().sample(Float32Array.from([1, 7, 7, 2]))).toBe(1);
    expect(createSampler({ temperature: 0, topK: 0, topP: 1 })).toBeInstanceOf(GreedySampler);
  });

  it('the same seed gives the same draws; another seed does not', () => {
    const draw = (seed: number) => {
      const s = createSampler({ temperature: 1, topK: 0, topP: 1, seed });
      return Array.from({ length: 20 }, (_, i) => s.sample(randomLogits(500, i)));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('draws follow the softmax distribution', () => {
    const logits = Float32Array.from([0, Math.log(3), Math.log(6)]); // p = 0.1, 0.3, 0.6
    const s = createSampler({ temperature: 1, topK: 0, topP: 1, seed: 7 });
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[s.sample(Float32Array.from(logits))]++;
    expect(counts[0] / 20000).toBeCloseTo(0.1, 1);
    expect(counts[2] / 20000).toBeCloseTo(0.6, 1);
  });

  it('never draws a token top-p removed', () => {
    const s = createSampler({ temperature: 1, topK: 0, topP: 0.5, seed: 3 });
    const logits = randomLogits(200, 9, 10);
    const allowed = new Set(referenceTopP(logits, 0.5));
    const before = Float32Array.from(logits);
    for (let i = 0; i < 500; i++) expect(allowed.has(s.sample(logits))).toBe(true);
    expect(logits).toEqual(before); // the caller's row (a view into the step's logits) is untouched
    expect(allowed.has(argmax(logits))).toBe(true);
  });
});
