export * from './schema.ts';
export * from './bounds.ts';
export * from './resolve.ts';
