import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCheckpoint } from '../checkpoint/generator.ts';
import { PRESETS } from '../checkpoint/presets.ts';
import { Checkpoint } from '../checkpoint/safetensors-reader.ts';
import { ManifestSchema } from '../model/contract.ts';
import { cachedWeights, referenceForward } from '../model/reference/forward.ts';
import { makeFeeds } from '../testing/graph-feeds.ts';
import { referenceRouteFn, routeFeeds } from '../testing/route-feeds.ts';
import { convertCheckpoint } from './convert.ts';

/** A bf16 checkpoint split into shards, as large published checkpoints are, converts and computes correctly. */

const dir = mkdtempSync(join(tmpdir(), 'pickban-bf16-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bf16 sharded source', () => {
  it('converts to fp32 and matches the reference forward on the widened bf16 weights', async () => {
    const src = join(dir, 'ckpt');
    generateCheckpoint({ outDir: src, shape: { ...PRESETS.tiny, layers: 2, experts: 8, topK: 2, dtype: 'bf16', maxShardBytes: 20e6 }, seed: 3 });
    expect(readdirSync(src).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    const out = join(dir, 'model');
    convertCheckpoint({ src, out });
    const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')));
    expect(manifest.source).toMatchObject({ dtypes: ['BF16'] });

    const arch = manifest.architecture;
    const session = await ort.InferenceSession.create(join(out, manifest.graphs.cpu!));
    const routing = { strategy: 'top_k' as const, topK: 2 };
    const ids = [151644, 872, 198, 9707];
    const res = await session.run(makeFeeds(arch, [{ ids, past: 0 }], [null], routeFeeds(arch, [routing], session.inputNames)));
    const ref = referenceForward(arch, cachedWeights(Checkpoint.open(src)), ids, referenceRouteFn(routing, arch.numExperts));
    const logits = res.logits.data as Float32Array;
    expect(logits.reduce((m, v, i) => Math.max(m, Math.abs(v - ref.lastLogits[i])), 0)).toBeLessThan(1e-4);
    await session.release();
  });
});
