export * from './model.ts';
export * from './decoder-layer.ts';
export * from './attention.ts';
export * from './moe.ts';
export * from './moe-stacked.ts';
export * from './rope.ts';
export * from './norm.ts';
export * from './weights.ts';
