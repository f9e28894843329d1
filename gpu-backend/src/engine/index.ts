export { createEngine, PickBanEngine } from './core.ts';
export * from './types.ts';
