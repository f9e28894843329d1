import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { banAndPickExperts, routerOrder, softmax64 } from './reference.ts';
import { compareWithReference, createRouterSession, resolvedRow, seededNormal, type RouterSession } from './test-harness.ts';

const L = 4;
const E = 24;
const maxTopK = 8;

describe('ban_and_pick in the kernel against its scalar reference', () => {
  let session: RouterSession;
  beforeAll(async () => {
    session = await createRouterSession(L, E, maxTopK);
  });
  afterAll(() => session.close());
  const row = (over: Parameters<typeof resolvedRow>[2]) => resolvedRow(L, E, { strategy: 'ban_and_pick', ...over });
  const logitsFor = (seed: number, tokens: number) => {
    const normal = seededNormal(seed);
    return Float32Array.from({ length: L * tokens * E }, () => normal() * 1.5);
  };

  it('agrees on random tokens with calibrated profiles, and the expert count really varies per token and layer', async () => {
    // Calibrate R = top-3 / top-K mass like the calibration CLI would: its 10th and 90th percentile.
    const K = 6;
    const sample = logitsFor(1, 200);
    const rs = [...Array(200).keys()].map((n) => {
      const p = softmax64(sample.subarray(n * E, (n + 1) * E));
      const order = routerOrder(p);
      const mass = (k: number) => order.slice(0, k).reduce((a, e) => a + p[e], 0);
      return mass(3) / mass(K);
    });
    rs.sort((a, b) => a - b);
    const [rMin, rMax] = [rs[20], rs[180]];
    const normal = seededNormal(2);
    const rows: ResolvedRouting[] = [];
    for (let i = 0; i < 40; i++) {
      const keys: Record<number, number[]> = {};
      for (let l = 0; l < L; l++) keys[l] = [...Array(E).keys()].filter(() => normal() > 1.3);
      rows.push(
        row({
          topK: [K, 4, 8][i % 3],
          minExperts: 1 + (i % 2),
          lambda: [0, 0.25, 0.5, 0.8, 1][i % 5],
          renormalize: i % 4 === 0,
          keys,
          layerSensitivity: Float32Array.from({ length: L }, (_, l) => l / (L - 1)),
          rMin,
          rMax,
        }),
      );
    }
    const seqLen = 4;
    const { mismatches, compared, skipped, selectedCounts } = await compareWithReference(session, rows, seqLen, logitsFor(3, rows.length * seqLen), { numLayers: L, numExperts: E });
    expect(mismatches).toEqual([]);
    expect(skipped).toBeLessThan(compared / 20);
    expect(new Set(selectedCounts).size).toBeGreaterThanOrEqual(5);
  });

  it('rounds K_il = x to nearest with halves going down, and adds key experts ranked K..2K-1 only', async () => {
    // Experts 0..23 in descending order; no R range in the row, so it is degenerate and T' = 1.
    const ordered = new Float32Array(L * E).map((_, k) => -(k % E) * 0.1);
    // x = 1 + (4 − 1)·1·(0 + 1)/2 = 2.5 -> 2 experts; x = 1 + 3·(1 + 1)/2 = 4 -> 4 experts.
    const rows = [
      row({ topK: 4, minExperts: 1, lambda: 1, layerSensitivity: Float32Array.from([0, 1, 0, 0]), keys: { 0: [5, 7, 8], 1: [2] } }),
    ];
    const out = await session.run(rows, 1, ordered);
    const sel = (l: number) => [...Array(E).keys()].filter((e) => out.selected[l][e] === 1);
    expect(sel(0)).toEqual([0, 1, 5, 7]); // ranks 0, 1, plus keys at ranks 5 and 7 (< 2K = 8); 8 is not
    expect(sel(1)).toEqual([0, 1, 2, 3]); // K_il = K: the key expert 2 is in the top K anyway
    expect(sel(2)).toEqual([0, 1]);
    const res = await compareWithReference(session, rows, 1, ordered, { numLayers: L, numExperts: E }, 0);
    expect(res.mismatches).toEqual([]);
  });

  it('keeps at least K_min experts at λ = 0, and the reference count follows the definition', async () => {
    const p = softmax64([3, 2, 1, 0, -1, -2, -3, -4]);
    const order = routerOrder(p);
    const r = (p[0] + p[1] + p[2]) / (p[0] + p[1] + p[2] + p[3]);
    // T' = clamp((0.95 − r)/(0.95 − 0.8), 0, 1); x = 2 + (4 − 2)·0.5·(0.5 + T')/2
    const t = Math.min(1, Math.max(0, (0.95 - r) / 0.15));
    const x = 2 + (2 * 0.5 * (0.5 + t)) / 2;
    const got = banAndPickExperts(p, order, { strategy: 'ban_and_pick', topK: 4, minExperts: 2, lambda: 0.5, layerSensitivity: 0.5, rRange: [0.8, 0.95] });
    expect(got.count).toBe(Math.ceil(x - 0.5));
    expect(banAndPickExperts(p, order, { strategy: 'ban_and_pick', topK: 4, minExperts: 2, lambda: 0, rRange: [0.8, 0.95] }).count).toBe(2);
    const rows = [row({ topK: 8, minExperts: 3, lambda: 0, rMin: 0.5, rMax: 0.9 })];
    const out = await session.run(rows, 2, logitsFor(8, 2));
    for (let l = 0; l < L; l++) for (let n = 0; n < 2; n++) expect(out.selected[l].subarray(n * E, (n + 1) * E).reduce((a, b) => a + b)).toBe(3);
  });
});
