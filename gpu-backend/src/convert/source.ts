import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '../checkpoint/safetensors-reader.ts';
import { architectureOf, parseQwen2MoeConfig, type Qwen2MoeConfig } from '../checkpoint/hf-config.ts';
import { expectedTensors, type ExpectedTensor } from '../checkpoint/tensor-names.ts';
import type { Architecture } from '../model/contract.ts';

/**
 * Opens and validates a Hugging Face Qwen2MoE checkpoint directory before anything is written:
 * every file present and parseable, the config supported, every tensor present with the shape
 * the config implies. Each failure is a ConvertError whose message is one line naming the file
 * or tensor.
 */

export class ConvertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConvertError';
  }
}

export const SOURCE_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'] as const;

export interface SourceCheckpoint {
  dir: string;
  config: Qwen2MoeConfig;
  arch: Architecture;
  checkpoint: Checkpoint;
  expected: Map<string, ExpectedTensor>;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
  /** Source dtype of the weights (F32, BF16, F16; mixed lists each once). */
  sourceDtypes: string[];
}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ConvertError(`${file}: missing`);
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error();
    return v;
  } catch {
    throw new ConvertError(`${file}: not a valid JSON object`);
  }
}

/** Wraps lower-level errors (config fields, safetensors headers) as one-line ConvertErrors. */
function oneLine<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConvertError) throw err;
    throw new ConvertError((err as Error).message.split('\n')[0]);
  }
}

export function openSource(dir: string): SourceCheckpoint {
  if (!existsSync(dir)) throw new ConvertError(`${dir}: checkpoint directory does not exist`);
  const configPath = join(dir, 'config.json');
  const config = oneLine(() => parseQwen2MoeConfig(readJson(configPath), configPath));
  const arch = architectureOf(config);
  for (const f of SOURCE_FILES) if (!existsSync(join(dir, f))) throw new ConvertError(`${join(dir, f)}: missing`);
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json'));
  const generationConfig = readJson(join(dir, 'generation_config.json'));
  readJson(join(dir, 'tokenizer.json'));
  const checkpoint = oneLine(() => Checkpoint.open(dir));
  const expected = new Map(expectedTensors(arch).map((t) => [t.name, t]));
  const dtypes = new Set<string>();
  for (const t of expected.values()) {
    const info = checkpoint.tensors.get(t.name);
    if (!info) throw new ConvertError(`tensor ${t.name}: missing from the checkpoint in ${dir}`);
    if (info.shape.join(',') !== t.shape.join(',')) {
      throw new ConvertError(`tensor ${t.name} (${info.file}): shape [${info.shape.join(', ')}] does not match [${t.shape.join(', ')}] implied by config.json`);
    }
    dtypes.add(info.dtype);
  }
  return { dir, config, arch, checkpoint, expected, tokenizerConfig, generationConfig, sourceDtypes: [...dtypes] };
}
