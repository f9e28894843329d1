import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ManifestSchema, MANIFEST_FILE } from '../src/model/contract.ts';
import { makeFeeds } from '../src/testing/graph-feeds.ts';
import { routeFeeds } from '../src/testing/route-feeds.ts';

/**
 * `npm run parity:hf -- <hf-logits.json> <model-dir>`: compares the engine graph's `top_k` logits
 * with those Hugging Face transformers computed (gpu-backend/parity/hf_logits.py) for the same
 * checkpoint and token ids. Prints the max abs difference and whether the argmax agrees.
 */
export interface ParityResult {
  maxAbsDiff: number;
  argmaxAgree: number;
  sequences: number;
  lines: string[];
}

export async function compareWithTransformers(jsonPath: string, modelDir: string): Promise<ParityResult> {
  const hf = JSON.parse(readFileSync(jsonPath, 'utf8')) as { results: { input_ids: number[]; last_logits: number[] }[] };
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(modelDir, MANIFEST_FILE), 'utf8')));
  const arch = manifest.architecture;
  const session = await ort.InferenceSession.create(join(modelDir, manifest.graphs.cpu!), { intraOpNumThreads: 2 });
  const result: ParityResult = { maxAbsDiff: 0, argmaxAgree: 0, sequences: hf.results.length, lines: [] };
  for (const { input_ids, last_logits } of hf.results) {
    const feeds = makeFeeds(arch, [{ ids: input_ids, past: 0 }], [null], routeFeeds(arch, [{ strategy: 'top_k', topK: arch.numExpertsPerTok }], session.inputNames));
    const out = (await session.run(feeds)).logits.data as Float32Array;
    let diff = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < last_logits.length; i++) {
      diff = Math.max(diff, Math.abs(out[i] - last_logits[i]));
      if (out[i] > out[a]) a = i;
      if (last_logits[i] > last_logits[b]) b = i;
    }
    result.maxAbsDiff = Math.max(result.maxAbsDiff, diff);
    if (a === b) result.argmaxAgree++;
    result.lines.push(`len ${String(input_ids.length).padStart(3)}: max |engine - transformers| = ${diff.toExponential(3)}, argmax ${a === b ? 'agrees' : `differs (${a} vs ${b})`}`);
  }
  await session.release();
  return result;
}

if (import.meta.filename === process.argv[1]) {
  const [jsonPath, modelDir] = process.argv.slice(2);
  if (!jsonPath || !modelDir) {
    console.error('usage: npm run parity:hf -- <hf-logits.json> <model-dir>');
    process.exit(2);
  }
  const r = await compareWithTransformers(jsonPath, modelDir);
  for (const line of r.lines) console.log(line);
  console.log(JSON.stringify({ sequences: r.sequences, maxAbsDiff: r.maxAbsDiff, argmaxAgree: r.argmaxAgree }));
}
