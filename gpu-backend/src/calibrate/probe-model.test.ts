import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../dev/default-model.ts';
import { makeFeeds } from '../testing/graph-feeds.ts';
import { routeFeeds, type RowRouting } from '../testing/route-feeds.ts';
import { openProbeModel, runWindow, type ProbeModel } from './probe-model.ts';

/** The graph facts calibration and evaluation rest on, checked on the trained default model. */

const stateDir = mkdtempSync(join(tmpdir(), 'pickban-probe-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

let model: ProbeModel;
let ids: number[];
beforeAll(async () => {
  model = await openProbeModel(await ensureDefaultModel('brown', stateDir));
  ids = model.tokenizer.encode('The jury said that the city had not been able to pay for the new school, and the mayor agreed.');
});

const count = (mask: Uint8Array, L: number, E: number, s: number, l: number) => mask.subarray((s * L + l) * E, (s * L + l + 1) * E).reduce((a, b) => a + b, 0);

describe('probe model', () => {
  it('returns logits for every position; the last equals a normal run that asks for the last position only', async () => {
    const { arch } = model;
    const topK: RowRouting = { strategy: 'top_k', topK: arch.numExpertsPerTok };
    const run = await runWindow(model, ids, [topK]);
    const S = ids.length;
    expect(run.logits.length).toBe(S * arch.vocabSize);
    const rows = [{ ids, past: 0 }];
    const out = await model.session.run(makeFeeds(arch, rows, [null], routeFeeds(arch, [topK], model.session.inputNames)));
    const last = out.logits.data as Float32Array;
    const mine = run.logits.subarray((S - 1) * arch.vocabSize, S * arch.vocabSize);
    let maxDiff = 0;
    for (let v = 0; v < arch.vocabSize; v++) maxDiff = Math.max(maxDiff, Math.abs(last[v] - mine[v]));
    expect(maxDiff).toBeLessThan(1e-4);
    // Router probabilities are distributions, and top_k picks K of them.
    for (let s = 0; s < S; s++) {
      const p = run.probs[2].subarray(s * arch.numExperts, (s + 1) * arch.numExperts);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(count(run.expertMask, arch.numLayers, arch.numExperts, s, 2)).toBe(arch.numExpertsPerTok);
    }
  });

  it('removes one expert from one layer with pick over all-but-that-expert keys, and equals top_k with all keys', async () => {
    const { numLayers: L, numExperts: E, numExpertsPerTok: K } = model.arch;
    const all = [...Array(E).keys()];
    const base = await runWindow(model, ids, [{ strategy: 'top_k', topK: K }]);
    // The expert layer 1 selects most often for this text.
    const freq = all.map((e) => ids.reduce((n, _, s) => n + base.expertMask[(s * L + 1) * E + e], 0));
    const removed = freq.indexOf(Math.max(...freq));
    const keys = (without?: number) => Object.fromEntries(Array.from({ length: L }, (_, l) => [l, l === 1 ? all.filter((e) => e !== without) : all]));
    const run = await runWindow(model, ids, [
      { strategy: 'pick', topK: K, lambda: 1, keyExperts: keys() },
      { strategy: 'pick', topK: K, lambda: 1, keyExperts: keys(removed) },
    ]);
    const S = ids.length;
    const V = model.arch.vocabSize;
    for (let i = 0; i < S * V; i++) if (run.logits[i] !== base.logits[i]) expect.fail(`all-keys pick differs from top_k at ${i}`);
    for (let s = 0; s < S; s++) {
      const row = (S + s) * L; // second batch row
      expect(run.expertMask[(row + 1) * E + removed]).toBe(0);
      for (let l = 0; l < L; l++) expect(count(run.expertMask, L, E, S + s, l)).toBe(K);
      // Layer 0 runs before the change, so its routing is untouched.
      expect(Array.from(run.expertMask.subarray(row * E, (row + 1) * E))).toEqual(Array.from(base.expertMask.subarray(s * L * E, (s * L + 1) * E)));
    }
    expect(freq[removed]).toBeGreaterThan(0);
  });

  it('cuts exactly one layer to K_min with ban_and_pick, W\' = -1 there and 1 elsewhere, and a degenerate R range', async () => {
    const { numLayers: L, numExperts: E, numExpertsPerTok: K } = model.arch;
    for (const kMin of [1, 2]) {
      const run = await runWindow(model, ids, [{
        strategy: 'ban_and_pick', topK: K, lambda: 1, minExperts: kMin, rRange: [0, 0], layerSensitivity: Array.from({ length: L }, (_, l) => (l === 3 ? -1 : 1)),
      }]);
      for (let s = 0; s < ids.length; s++) for (let l = 0; l < L; l++) expect(count(run.expertMask, L, E, s, l)).toBe(l === 3 ? kMin : K);
    }
  });
});

