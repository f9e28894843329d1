export * from './dtypes.ts';
export * from './tensor.ts';
export * from './attributes.ts';
export * from './graph-builder.ts';
export * from './weight-writer.ts';
