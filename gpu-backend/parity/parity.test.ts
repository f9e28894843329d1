import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/dev/default-model.ts';
import { compareWithTransformers } from './compare.ts';

// Logits that Hugging Face transformers 5.17 (fp32, eager, H100) computed for the committed default
// checkpoint (gpu-backend/parity/hf_logits.py). The converted graph must reproduce them.
const FIXTURE = join(import.meta.dirname, 'fixtures/brown-hf-logits.json');
const stateDir = mkdtempSync(join(tmpdir(), 'pickban-parity-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

it('the converted default model matches transformers within fp32 tolerance (top_k)', async () => {
  const modelDir = await ensureDefaultModel('brown', stateDir);
  const r = await compareWithTransformers(FIXTURE, modelDir);
  expect(r.sequences).toBe(4);
  expect(r.maxAbsDiff).toBeLessThan(1e-4);
  expect(r.argmaxAgree).toBe(r.sequences);
});
