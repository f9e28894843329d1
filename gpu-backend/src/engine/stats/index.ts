export * from './routing-stats.ts';
