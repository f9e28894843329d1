import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { buildOnce } from './build-once.ts';
import { join, resolve } from 'node:path';
import { generateCheckpoint } from '../checkpoint/generator.ts';
import { PRESETS } from '../checkpoint/presets.ts';
import { convertCheckpoint } from '../convert/convert.ts';
import { MANIFEST_FILE, type WeightDtype } from '../model/contract.ts';

/**
 * The tiny Qwen2MoE model every test and `npm start` use: generated from the `tiny` preset and
 * converted through the real converter, once, into .pickban/cache/tiny-<version>/.
 *
 * The version is a hash of the generator, converter and graph sources, so any change to them
 * rebuilds the model instead of serving a stale one. Builds are lock-free: each process builds
 * into a private directory and renames it into place; if another process won the race, its copy
 * is used and ours discarded. A directory without manifest.json is never returned.
 */

const ROOT = resolve(import.meta.dirname, '../../..');
const CACHE_DIR = join(ROOT, '.pickban', 'cache');
const SEED = 0;
/** Larger than the preset's top-4 so tests can ask for more experts than the default. */
export const TINY_MAX_TOP_K = 8;

const SOURCE_DIRS = ['checkpoint', 'convert', 'model/qwen2moe', 'model/router', 'model/onnx'].map((d) => join(ROOT, 'gpu-backend/src', d));

function sourceVersion(): string {
  const hash = createHash('sha256');
  for (const dir of SOURCE_DIRS) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts')).sort()) {
      hash.update(f).update(readFileSync(join(dir, f)));
    }
  }
  return hash.digest('hex').slice(0, 12);
}

export interface TinyModel {
  /** The converted model directory (manifest.json, model.onnx, ...). */
  modelDir: string;
  /** The HF-format checkpoint it was converted from. */
  checkpointDir: string;
  dtype: WeightDtype;
}

/** Builds from older sources are dropped once nobody can still be creating them (~160 MB each). */
const STALE_AFTER_MS = 30 * 60 * 1000;

function pruneStale(current: string): void {
  for (const name of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, name);
    if (!name.startsWith('tiny-') || path === current) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another process pruned it first.
    }
  }
}

export async function getTinyModel(opts: { dtype?: WeightDtype } = {}): Promise<TinyModel> {
  const dtype = opts.dtype ?? 'fp32';
  const base = join(CACHE_DIR, `tiny-${sourceVersion()}`);
  mkdirSync(base, { recursive: true });
  pruneStale(base);
  const checkpointDir = join(base, 'checkpoint');
  buildOnce(checkpointDir, (d) => existsSync(join(d, 'config.json')), (tmp) => generateCheckpoint({ outDir: tmp, shape: PRESETS.tiny, seed: SEED }));
  const modelDir = join(base, `model-${dtype}`);
  buildOnce(modelDir, (d) => existsSync(join(d, MANIFEST_FILE)), (tmp) => convertCheckpoint({ src: checkpointDir, out: tmp, dtype, maxTopK: TINY_MAX_TOP_K }));
  return { modelDir, checkpointDir, dtype };
}

/** The model `npm start` serves when MODEL_DIR is not set: the tiny fp32 model. */
export async function ensureDefaultModel(): Promise<string> {
  return (await getTinyModel()).modelDir;
}
