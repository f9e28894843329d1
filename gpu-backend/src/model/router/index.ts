export * from './params.ts';
export * from './kernel.ts';
export * from './validate.ts';
export * from './pack.ts';
