export * from './model-runner.ts';
export * from './input-batch.ts';
export * from './kv-cache.ts';
export * from './batch-tensors.ts';
export * from './session.ts';
