export * from './text-tokenizer.ts';
export * from './detokenizer.ts';
