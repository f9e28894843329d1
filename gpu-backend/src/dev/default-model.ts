import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { convertCheckpoint } from '../convert/convert.ts';
import { MANIFEST_FILE } from '../model/contract.ts';
import { getTinyModel } from '../testing/tiny-model.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** The trained Brown-corpus Qwen2MoE committed with the repository (issue 7). */
export const DEFAULT_CHECKPOINT = join(ROOT, 'gpu-backend/default-model');

/**
 * The model `npm start` serves when MODEL_DIR is not set. `brown` (the default) converts the
 * committed trained checkpoint through the same converter as any HF checkpoint; `tiny` is the
 * generated random-weight model the tests use. Both are built once and reused.
 */
export async function ensureDefaultModel(which: 'brown' | 'tiny', stateDir: string): Promise<string> {
  if (which === 'tiny') return (await getTinyModel()).modelDir;
  // Keyed by the checkpoint's bytes, so a retrained model (or recalibrated profiles/) is converted again.
  const hash = createHash('sha256');
  const files = readdirSync(DEFAULT_CHECKPOINT, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
  for (const f of files.sort()) hash.update(relative(DEFAULT_CHECKPOINT, f)).update(readFileSync(f));
  const out = join(stateDir, 'models', `brown-moe-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(join(out, MANIFEST_FILE))) convertCheckpoint({ src: DEFAULT_CHECKPOINT, out, dtype: 'fp32', maxTopK: 8 });
  return out;
}
