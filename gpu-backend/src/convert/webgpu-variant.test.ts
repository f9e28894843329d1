import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, expect, it } from 'vitest';
import { ManifestSchema } from '../model/contract.ts';
import { makeFeeds } from '../testing/graph-feeds.ts';
import { routeFeeds } from '../testing/route-feeds.ts';
import { getTinyModel } from '../testing/tiny-model.ts';
import { convertCheckpoint } from './convert.ts';

const out = mkdtempSync(join(tmpdir(), 'pickban-webgpu-variant-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the webgpu variant (a zero row per skipped expert) computes the same logits as the cpu graph', async () => {
  const tiny = await getTinyModel();
  convertCheckpoint({ src: tiny.checkpointDir, out: join(out, 'webgpu'), ep: 'webgpu', maxTopK: 8 });
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(out, 'webgpu/manifest.json'), 'utf8')));
  expect(Object.keys(manifest.graphs)).toEqual(['webgpu']);

  // Both graphs on the CPU EP: the variant must only change how skipped experts are represented.
  const run = async (dir: string, file: string) => {
    const session = await ort.InferenceSession.create(join(dir, file));
    const feeds = makeFeeds(manifest.architecture, [{ ids: [9707, 11, 1879], past: 0 }, { ids: [42], past: 0 }], [null, null],
      routeFeeds(manifest.architecture, [{ strategy: 'ban', topK: 4, tau: 0.3 }, { strategy: 'top_k', topK: 2 }], session.inputNames));
    const logits = (await session.run(feeds)).logits.data as Float32Array;
    await session.release();
    return logits;
  };
  const cpu = await run(tiny.modelDir, 'model.onnx');
  const webgpu = await run(join(out, 'webgpu'), manifest.graphs.webgpu!);
  let diff = 0;
  for (let i = 0; i < cpu.length; i++) diff = Math.max(diff, Math.abs(cpu[i] - webgpu[i]));
  expect(diff).toBeLessThan(1e-5);
});

it('refuses a cuda graph variant with one clear line', async () => {
  const tiny = await getTinyModel();
  expect(() => convertCheckpoint({ src: tiny.checkpointDir, out: join(out, 'cuda'), ep: 'cuda' })).toThrow(/--ep cuda/);
});
