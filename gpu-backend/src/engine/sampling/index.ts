export * from './prng.ts';
export * from './logits-processors.ts';
export * from './sampler.ts';
export * from './stopping.ts';
export * from './stop-strings.ts';
