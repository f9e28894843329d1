import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoutingProfileSchema, type RoutingProfile } from '../../../shared/routing/resolve.ts';
import { ensureDefaultModel } from '../dev/default-model.ts';
import { parseCalibrateArgs, runCalibrate } from './cli.ts';
import { openProbeModel, type ProbeModel } from './probe-model.ts';

/** Calibration on the trained default model, at a CI-sized setting (160 tokens). */

const stateDir = mkdtempSync(join(tmpdir(), 'pickban-calibrate-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const FICTION = [
  'She looked at him for a long time and then turned back to the window. The rain had stopped, and the street below was quiet.',
  '"I do not know what you want from me," he said. She did not answer. Somewhere in the house a door closed, and they both listened.',
  'The old man walked slowly down the road toward the river, where the boats were tied up for the night and the lights were coming on.',
];
const PRESS = ['The city council voted last night to approve the new budget, which includes funds for two schools and a bridge over the river.'];

let modelDir: string;
let dataFile: string;
beforeAll(async () => {
  modelDir = await ensureDefaultModel('brown', stateDir);
  dataFile = join(stateDir, 'calibration.jsonl');
  const records = [...FICTION.map((text) => ({ group: 'fiction', text })), ...PRESS.map((text) => ({ group: 'press', text }))];
  writeFileSync(dataFile, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

describe('npm run calibrate', () => {
  let profile: RoutingProfile;
  let model: ProbeModel;
  beforeAll(async () => {
    // The data file twice gives about 370 tokens; the budget of 160 takes 2 evenly spaced windows of 64.
    const args = parseCalibrateArgs(['--model', modelDir, '--data', dataFile, dataFile, '--name', 'ci-fiction', '--where', 'group=fiction',
      '--max-tokens', '160', '--window', '64', '--candidates', '3', '--key-experts', '2']);
    const file = await runCalibrate(args);
    expect(file).toBe(join(modelDir, 'profiles', 'ci-fiction.json'));
    profile = RoutingProfileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    model = await openProbeModel(modelDir);
  });

  it('writes a profile that validates, with the requested number of key experts per layer, all in range', () => {
    const { numLayers: L, numExperts: E } = model.arch;
    expect(profile.name).toBe('ci-fiction');
    expect(Object.keys(profile.key_experts!).sort()).toEqual([...Array(L).keys()].map(String).sort());
    for (const ids of Object.values(profile.key_experts!)) {
      expect(new Set(ids).size).toBe(2);
      for (const e of ids) expect(e >= 0 && e < E && Number.isInteger(e)).toBe(true);
    }
  });

  it('counts exactly K experts per token in the top_k frequencies, and picks key experts from the most frequent by KL impact', () => {
    const cal = profile.calibration as { activation_frequency: number[][]; removal_kl: { expert: number; kl: number }[][]; tokens: number };
    expect(cal.tokens).toBe(128);
    cal.activation_frequency.forEach((f, l) => {
      expect(f.reduce((a, b) => a + b, 0)).toBeCloseTo(model.arch.numExpertsPerTok, 3);
      const candidates = cal.removal_kl[l].map((c) => c.expert);
      const threshold = [...f].sort((a, b) => b - a)[2];
      for (const e of candidates) expect(f[e]).toBeGreaterThanOrEqual(threshold);
      // Removing a frequently used expert changes the output distribution.
      for (const c of cal.removal_kl[l]) expect(c.kl).toBeGreaterThan(0);
      const byImpact = [...cal.removal_kl[l]].sort((a, b) => b.kl - a.kl).slice(0, 2).map((c) => c.expert).sort((a, b) => a - b);
      expect(profile.key_experts![String(l)]).toEqual(byImpact);
    });
  });

  it('min-max normalises layer sensitivity and keeps R_min <= R_max within [3/K, 1]', () => {
    const w = profile.layer_sensitivity!;
    expect(w).toHaveLength(model.arch.numLayers);
    expect(Math.min(...w)).toBe(0);
    expect(Math.max(...w)).toBe(1);
    for (const v of w) expect(v >= 0 && v <= 1).toBe(true);
    expect(profile.r_min!).toBeLessThanOrEqual(profile.r_max!);
    expect(profile.r_min!).toBeGreaterThanOrEqual(3 / model.arch.numExpertsPerTok - 1e-6);
    expect(profile.r_max!).toBeLessThanOrEqual(1 + 1e-6);
  });
});

describe('parseCalibrateArgs', () => {
  it('takes several data files after one --data, and defaults', () => {
    const a = parseCalibrateArgs(['--model', 'm', '--data', 'a.jsonl', 'b.txt', '--name', 'x']);
    expect(a.data).toEqual(['a.jsonl', 'b.txt']);
    expect(a).toMatchObject({ keyExperts: 2, candidates: 6, maxTokens: 4096, kMin: 1, where: {} });
  });

  it('refuses a missing name, a bad profile name and a non-integer count with one line', () => {
    expect(() => parseCalibrateArgs(['--model', 'm', '--data', 'a'])).toThrow(/usage: npm run calibrate/);
    expect(() => parseCalibrateArgs(['--model', 'm', '--data', 'a', '--name', '../x'])).toThrow(/--name/);
    expect(() => parseCalibrateArgs(['--model', 'm', '--data', 'a', '--name', 'x', '--candidates', '2.5'])).toThrow(/--candidates 2.5/);
  });
});
