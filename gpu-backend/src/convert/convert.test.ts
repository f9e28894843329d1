import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCheckpoint } from '../checkpoint/generator.ts';
import { PRESETS } from '../checkpoint/presets.ts';
import { ManifestSchema } from '../model/contract.ts';
import { convertCheckpoint } from './convert.ts';
import { ConvertError } from './source.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'pickban-convert-'));
const good = join(dir, 'good');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  generateCheckpoint({ outDir: good, shape: { ...PRESETS.tiny, layers: 1, experts: 4, topK: 2 }, seed: 1 });
});

/** A copy of the good checkpoint (weights symlinked) with one thing broken. */
function variant(name: string, edit: (d: string) => void): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const f of readdirSync(good)) {
    if (f.endsWith('.safetensors')) symlinkSync(join(good, f), join(d, f));
    else copyFileSync(join(good, f), join(d, f));
  }
  edit(d);
  return d;
}
const editConfig = (patch: Record<string, unknown>) => (d: string) => {
  const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, ...patch }));
};

/** Nothing under `parent` may look like a model after a failure: no manifest, no leftover tmp dirs. */
function expectNoOutput(parent: string, out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(parent).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

function runCli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'gpu-backend/src/convert/cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('convert CLI', () => {
  it('converts a checkpoint into a model dir whose manifest validates', () => {
    const out = join(dir, 'out-good', 'model');
    const res = runCli([good, out, '--dtype', 'int4', '--max-top-k', '3']);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^converted to .*model: \d+ nodes/);
    const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')));
    expect(manifest.architecture).toMatchObject({ numLayers: 1, numExperts: 4, numExpertsPerTok: 2, headDim: 16, numKvHeads: 2 });
    expect(manifest.weights).toEqual({ dtype: 'int4', blockSize: 32 });
    expect(manifest.routing).toMatchObject({ defaultTopK: 2, maxTopK: 3 });
    expect(manifest.eosTokenIds).toEqual([151645, 151643]);
    expect(manifest.padTokenId).toBe(151643);
    expect(manifest.chatTemplate).toContain('<|im_start|>');
    for (const f of [manifest.graphs.cpu!, 'model.onnx.data', 'tokenizer.json', 'tokenizer_config.json']) expect(statSync(join(out, f)).size).toBeGreaterThan(0);
    expect(statSync(join(out, manifest.profilesDir)).isDirectory()).toBe(true);
    expectNoOutput(join(dir, 'out-good'), join(dir, 'out-good', 'nothing'));
  });

  it('exits non-zero with one line naming the missing file', () => {
    const src = variant('no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')));
    const parent = join(dir, 'out-missing');
    const res = runCli([src, join(parent, 'model')]);
    expect(res.status).toBe(1);
    expect(res.stderr.trim().split('\n')).toEqual([`convert: ${join(src, 'tokenizer.json')}: missing`]);
    expect(existsSync(parent)).toBe(false);
  });

  it('exits non-zero with one line naming an unsupported config field', () => {
    const src = variant('sparse-step', editConfig({ decoder_sparse_step: 2 }));
    const res = runCli([src, join(dir, 'out-step')]);
    expect(res.status).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(`${join(src, 'config.json')}: decoder_sparse_step: decoder_sparse_step=2 is not supported`);
  });
});

describe('convert validation (in-process)', () => {
  const cases: [string, (d: string) => void, RegExp][] = [
    ['mlp-only', editConfig({ mlp_only_layers: [0] }), /config\.json: mlp_only_layers: mlp_only_layers must be empty/],
    ['sliding', editConfig({ use_sliding_window: true }), /config\.json: use_sliding_window: use_sliding_window=true is not supported/],
    ['llama', editConfig({ model_type: 'llama' }), /config\.json: model_type: model_type must be "qwen2_moe", got "llama"/],
    ['arch', editConfig({ architectures: ['LlamaForCausalLM'] }), /config\.json: architectures: architectures must include "Qwen2MoeForCausalLM"/],
    ['rope-scaling', editConfig({ rope_scaling: { type: 'yarn', factor: 4 } }), /config\.json: rope_scaling: rope_scaling is not supported/],
    ['shape', editConfig({ moe_intermediate_size: 16 }), /tensor model\.layers\.0\.mlp\.experts\.0\.gate_proj\.weight \(.*model\.safetensors\): shape \[32, 64\] does not match \[16, 64\] implied by config\.json/],
    ['gen-config', (d) => rmSync(join(d, 'generation_config.json')), /generation_config\.json: missing/],
    ['bad-json', (d) => writeFileSync(join(d, 'tokenizer_config.json'), '{oops'), /tokenizer_config\.json: not a valid JSON object/],
  ];
  for (const [name, edit, message] of cases) {
    it(`rejects ${name} before writing anything`, () => {
      const src = variant(name, edit);
      const parent = join(dir, `out-${name}`);
      mkdirSync(parent);
      let err: unknown;
      try {
        convertCheckpoint({ src, out: join(parent, 'model') });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConvertError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
      expectNoOutput(parent, join(parent, 'model'));
    });
  }

  it('a failure mid-stream (truncated weights) removes the partial output and keeps an existing model intact', () => {
    const src = variant('truncated', (d) => {
      rmSync(join(d, 'model.safetensors'));
      copyFileSync(join(good, 'model.safetensors'), join(d, 'model.safetensors'));
      truncateSync(join(d, 'model.safetensors'), statSync(join(good, 'model.safetensors')).size - 1000);
    });
    const parent = join(dir, 'out-truncated');
    const out = join(parent, 'model');
    convertCheckpoint({ src: good, out });
    const before = readFileSync(join(out, 'manifest.json'), 'utf8');
    expect(() => convertCheckpoint({ src, out })).toThrow(/lm_head\.weight is truncated/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(readdirSync(parent)).toEqual(['model']);
  });

  it('rejects --max-top-k outside [num_experts_per_tok, num_experts]', () => {
    expect(() => convertCheckpoint({ src: good, out: join(dir, 'out-k'), maxTopK: 5 })).toThrow(/--max-top-k 5: must be between num_experts_per_tok \(2\) and num_experts \(4\)/);
    expect(existsSync(join(dir, 'out-k'))).toBe(false);
  });
});
