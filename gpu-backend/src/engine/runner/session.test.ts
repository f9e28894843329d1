import { describe, it, expect, beforeAll } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { getTinyModel } from '../../testing/tiny-model.ts';
import { MANIFEST_FILE, ManifestSchema, type Manifest } from '../../model/contract.ts';
import { ExecutionProviderError, openSession, runChecked, sessionOptionsFor } from './session.ts';

let modelDir: string;
let manifest: Manifest;

beforeAll(async () => {
  ({ modelDir } = await getTinyModel());
  manifest = ManifestSchema.parse(JSON.parse(await readFile(join(modelDir, MANIFEST_FILE), 'utf8')));
});

describe('openSession', () => {
  it('refuses a provider the model has no graph for, naming it', async () => {
    const cpuOnly = { ...manifest, graphs: { cpu: manifest.graphs.cpu } };
    await expect(openSession(modelDir, cpuOnly, { executionProvider: 'webgpu' })).rejects.toThrow(/no graph for execution provider 'webgpu'/);
  });

  it('fails loudly when the provider cannot start instead of falling back to the CPU', async () => {
    // The CUDA provider libraries are not installed with onnxruntime-node here.
    const withCuda = { ...manifest, graphs: { ...manifest.graphs, cuda: manifest.graphs.cpu } };
    const err = await openSession(modelDir, withCuda, { executionProvider: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionProviderError);
    expect((err as Error).message).toMatch(/^Could not start execution provider 'cuda'/);
  });

  it('checks feeds against the session inputs and reports shapes on failure', async () => {
    const session = await openSession(modelDir, manifest, { executionProvider: 'cpu' });
    const seen: { shapes: Record<string, string>; error: string }[] = [];
    const feeds = { input_ids: new ort.Tensor('int64', new BigInt64Array(2), [1, 2]) };
    await expect(runChecked(session, feeds, (d) => seen.push(d))).rejects.toThrow(/did not build: position_ids/);
    expect(seen[0].shapes).toEqual({ input_ids: 'int64[1,2]' });
    await session.release();
  });
});

describe('sessionOptionsFor', () => {
  it('keeps WebGPU buffers for reuse by exact size unless the operator overrides it, and leaves the CPU alone', () => {
    expect(sessionOptionsFor({ executionProvider: 'webgpu' }).executionProviders).toEqual([{ name: 'webgpu', storageBufferCacheMode: 'simple' }]);
    expect(sessionOptionsFor({ executionProvider: 'cpu' }).executionProviders).toEqual(['cpu']);
    process.env.PICKBAN_WEBGPU_OPTIONS = '{"storageBufferCacheMode":"bucket","validationMode":"disabled"}';
    try {
      expect(sessionOptionsFor({ executionProvider: 'webgpu' }).executionProviders).toEqual([{ name: 'webgpu', storageBufferCacheMode: 'bucket', validationMode: 'disabled' }]);
    } finally {
      delete process.env.PICKBAN_WEBGPU_OPTIONS;
    }
  });
});
