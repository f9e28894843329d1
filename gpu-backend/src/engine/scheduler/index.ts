export * from './scheduler.ts';
export * from './output.ts';
export * from './sequence.ts';
