import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCheckpoint } from '../checkpoint/generator.ts';
import { PRESETS } from '../checkpoint/presets.ts';
import { convertCheckpoint } from './convert.ts';
import { ConvertError } from './source.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-convert-profiles-'));
const src = join(dir, 'ckpt');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  generateCheckpoint({ outDir: src, shape: { ...PRESETS.tiny, layers: 2, experts: 4, topK: 2 }, seed: 3 });
  mkdirSync(join(src, 'profiles'));
});

const writeProfile = (file: string, profile: unknown) => writeFileSync(join(src, 'profiles', file), JSON.stringify(profile));

describe('converter: checkpoint profiles', () => {
  it('copies a checkpoint\'s profiles/*.json into the model, byte for byte', () => {
    writeProfile('genre.json', { name: 'genre', key_experts: { 0: [1], 1: [0, 3] }, layer_sensitivity: [0, 1], r_min: 0.8, r_max: 1 });
    const out = join(dir, 'model-ok');
    convertCheckpoint({ src, out });
    expect(readFileSync(join(out, 'profiles', 'genre.json'), 'utf8')).toBe(readFileSync(join(src, 'profiles', 'genre.json'), 'utf8'));
    rmSync(join(src, 'profiles', 'genre.json'));
  });

  it('refuses a profile whose key experts or layer sensitivity do not fit the model, leaving no output', () => {
    for (const [file, profile, message] of [
      ['big.json', { name: 'big', key_experts: { 0: [4] } }, /key expert 4 >= 4 experts/],
      ['layers.json', { name: 'layers', key_experts: {}, layer_sensitivity: [0, 0.5, 1] }, /3 entries for 2 layers/],
      ['renamed.json', { name: 'other', key_experts: {} }, /does not match its file name/],
      ['schema.json', { name: 'schema', key_experts: {}, layer_sensitivity: [2] }, /not a valid routing profile/],
    ] as const) {
      writeProfile(file, profile);
      const out = join(dir, `model-${file}`);
      let error: unknown;
      try {
        convertCheckpoint({ src, out });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConvertError);
      expect((error as Error).message).toMatch(message);
      expect(existsSync(out)).toBe(false);
      rmSync(join(src, 'profiles', file));
    }
  });
});
