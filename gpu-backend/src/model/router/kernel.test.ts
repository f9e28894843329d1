import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { ROUTING_STRATEGIES, type RoutingStrategy } from '../../../../shared/routing/schema.ts';
import { compareWithReference, createRouterSession, resolvedRow, seededNormal, type RouterSession } from './test-harness.ts';

interface Vector {
  name: string;
  logits: number[];
  params: { strategy: RoutingStrategy; top_k: number; lambda?: number; tau?: number; min_experts?: number; renormalize?: boolean; key_experts?: number[] };
  expected: { selected: number[]; weights: number[] };
}
const vectors: Vector[] = JSON.parse(readFileSync(new URL('../../../../../shared/testdata/routing-vectors.json', import.meta.url), 'utf8')).vectors;

describe('router kernel against the reference vectors (real ORT CPU session)', () => {
  for (const E of [...new Set(vectors.map((v) => v.logits.length))]) {
    it(`reproduces every E=${E} vector: selection exact, weights within 1e-5`, async () => {
      const cases = vectors.filter((v) => v.logits.length === E);
      const session = await createRouterSession(1, E, 8);
      const rows = cases.map(({ params: p }) =>
        resolvedRow(1, E, {
          strategy: p.strategy,
          topK: p.top_k,
          lambda: p.lambda ?? 1,
          tau: p.tau ?? 0.9,
          minExperts: p.min_experts ?? 1,
          renormalize: p.renormalize ?? false,
          keys: { 0: p.key_experts ?? [] },
        }),
      );
      const out = await session.run(rows, 1, Float32Array.from(cases.flatMap((v) => v.logits)));
      await session.close();
      cases.forEach((v, n) => {
        const selected = [...Array(E).keys()].filter((e) => out.selected[0][n * E + e] === 1);
        expect(selected, v.name).toEqual(v.expected.selected);
        selected.forEach((e, i) => expect(Math.abs(out.weights[0][n * E + e] - v.expected.weights[i]), v.name).toBeLessThanOrEqual(1e-5));
      });
    });
  }
});

describe('router kernel against the scalar reference', () => {
  const L = 3;
  const E = 16;
  const maxTopK = 8;
  let session: RouterSession;
  beforeAll(async () => {
    session = await createRouterSession(L, E, maxTopK);
  });
  afterAll(() => session.close());

  const check = async (rows: ResolvedRouting[], seqLen: number, logits: Float32Array) => {
    const result = await compareWithReference(session, rows, seqLen, logits, { numLayers: L, numExperts: E });
    expect(result.mismatches).toEqual([]);
    return result;
  };
  const randomLogits = (seed: number, tokens: number, spread = 2) => {
    const normal = seededNormal(seed);
    return Float32Array.from({ length: L * tokens * E }, () => normal() * spread);
  };

  it('stays compact: at most 20 nodes per layer, 29 with ban_and_pick', async () => {
    expect(session.nodesPerLayer).toBeLessThanOrEqual(29);
    const without = await createRouterSession(1, E, maxTopK, ['top_k', 'pick', 'ban', 'pick_and_ban']);
    expect(without.nodesPerLayer).toBeLessThanOrEqual(20);
    await without.close();
  });

  it('agrees on random logits for every strategy, with different parameters per row and several tokens per row', async () => {
    const normal = seededNormal(11);
    const pickInt = (lo: number, hi: number) => lo + Math.floor(((normal() + 4) / 8) * (hi - lo + 1)) % (hi - lo + 1);
    const unit = () => Math.min(1, Math.max(0, 0.5 + normal() * 0.3));
    const rows: ResolvedRouting[] = [];
    for (let i = 0; i < 100; i++) {
      const strategy = ROUTING_STRATEGIES[i % ROUTING_STRATEGIES.length];
      const topK = pickInt(1, maxTopK);
      const keys: Record<number, number[]> = {};
      for (let l = 0; l < L; l++) keys[l] = [...Array(E).keys()].filter(() => normal() > 1.2); // ~2 per layer, some layers none
      rows.push(
        resolvedRow(L, E, {
          strategy,
          topK,
          lambda: unit(),
          tau: unit(),
          minExperts: pickInt(1, topK),
          renormalize: i % 3 === 0,
          keys,
          layerSensitivity: Float32Array.from({ length: L }, unit),
          rMin: 0.45,
          rMax: 0.85,
        }),
      );
    }
    const seqLen = 3;
    const { compared, skipped, selectedCounts } = await check(rows, seqLen, randomLogits(3, rows.length * seqLen));
    expect(skipped).toBeLessThan(compared / 50);
    expect(new Set(selectedCounts).size).toBeGreaterThan(4); // routing really varies
  });

  const row = (over: Parameters<typeof resolvedRow>[2]) => resolvedRow(L, E, over);
  const uniform = (tokens: number) => new Float32Array(L * tokens * E);

  it('breaks ties by lower expert id in every strategy', async () => {
    const rows = [
      row({ strategy: 'top_k', topK: 4 }),
      row({ strategy: 'ban', topK: 4, tau: 0.1 }),
      row({ strategy: 'pick', topK: 4, lambda: 0.1, keys: { 0: [9, 12], 1: [15], 2: [] } }),
      row({ strategy: 'pick_and_ban', topK: 4, tau: 0.1, minExperts: 1, keys: { 0: [9, 12] } }),
      row({ strategy: 'ban_and_pick', topK: 4, lambda: 0.5, minExperts: 1, keys: { 0: [3, 5] } }),
    ];
    const out = await session.run(rows, 1, uniform(rows.length));
    const sel = (n: number, l = 0) => [...Array(E).keys()].filter((e) => out.selected[l][n * E + e] === 1);
    expect(sel(0)).toEqual([0, 1, 2, 3]);
    expect(sel(1)).toEqual([0, 1]); // 1/16 before the second is < 0.1, 2/16 before the third is not
    expect(sel(2)).toEqual([0, 1, 9, 12]); // keys first, then non-keys 0 (mass 0) and 1 (mass 1/16 < 0.1)
    expect(sel(3)).toEqual([0, 1, 9, 12]);
    expect(sel(4)).toEqual([0, 1, 3, 5]); // x = 1 + 3·0.5·(1+1)/2 = 2.5 -> 2 experts (halves go down); keys 3, 5 within the top 2K
    await check(rows, 1, uniform(rows.length));
  });

  it('handles one dominant expert and lambda / tau at 0 and 1', async () => {
    const dominant = (tokens: number) => {
      const normal = seededNormal(5);
      return Float32Array.from({ length: L * tokens * E }, (_, k) => (k % E === 7 ? 30 : normal()));
    };
    const rows: ResolvedRouting[] = [];
    for (const v of [0, 1]) {
      rows.push(row({ strategy: 'ban', topK: 6, tau: v }));
      rows.push(row({ strategy: 'ban', topK: 6, tau: v, minExperts: 3 }));
      rows.push(row({ strategy: 'pick', topK: 6, lambda: v, keys: { 0: [2, 4], 2: [7] } }));
      rows.push(row({ strategy: 'pick_and_ban', topK: 6, tau: v, minExperts: 2, keys: { 1: [1, 2, 3] } }));
      rows.push(row({ strategy: 'ban_and_pick', topK: 6, lambda: v, minExperts: 2, keys: { 0: [2, 4] } }));
    }
    // With τ or λ = 1 the mass before the second expert is 1 − 1e-12: fp32 cannot resolve it, so
    // those tokens are skipped by margin; every other decision is compared.
    const res = await check(rows, 2, dominant(rows.length * 2));
    expect(res.compared).toBeGreaterThan(res.skipped);
    await check(rows, 2, randomLogits(9, rows.length * 2));
    const out = await session.run(rows, 2, dominant(rows.length * 2));
    const sel = (n: number, l: number) => [...Array(E).keys()].filter((e) => out.selected[l][n * E + e] === 1);
    expect(sel(0, 0)).toEqual([7]); // ban τ=0: m=1 keeps the dominant one only
    expect(out.weights[0][7]).toBeCloseTo(1, 6);
    expect(sel(2, 1)).toHaveLength(3); // ban τ=0, m=3
    expect(sel(4, 0)).toEqual([2, 4]); // pick λ=0: key experts only
    expect(sel(4, 2)).toEqual([7]); // pick λ=0 where the only key is the dominant expert
    expect(sel(6, 1)).toEqual([1, 2, 3]); // pick_and_ban τ=0, m=2: the 3 keys already reach m, so not even the dominant 7
  });

  it('handles no key experts, more key experts than K, and key experts in some layers only', async () => {
    const many = [...Array(10).keys()].map((e) => e + 3);
    const rows = [
      row({ strategy: 'pick', topK: 4, lambda: 0.6 }),
      row({ strategy: 'pick_and_ban', topK: 4, tau: 0.6, minExperts: 2 }),
      row({ strategy: 'pick', topK: 3, lambda: 1, keys: { 0: many, 1: many, 2: many } }),
      row({ strategy: 'pick_and_ban', topK: 3, tau: 1, minExperts: 3, keys: { 0: many, 2: many } }),
      row({ strategy: 'pick', topK: 5, lambda: 0.4, keys: { 1: [0, 15] } }),
      row({ strategy: 'pick_and_ban', topK: 5, tau: 0.4, keys: { 2: [8] } }),
      row({ strategy: 'ban_and_pick', topK: 4, lambda: 0.8, keys: { 1: many } }),
      // key experts given with top_k / ban have no effect
      row({ strategy: 'top_k', topK: 4, keys: { 0: [15], 1: [15], 2: [15] } }),
      row({ strategy: 'ban', topK: 4, tau: 0.5, keys: { 0: [15], 1: [15], 2: [15] } }),
    ];
    const res = await check(rows, 4, randomLogits(21, rows.length * 4));
    expect(res.skipped).toBeLessThan(3);
  });

  it('returns zero weights, not NaN, for an empty selection with renormalize', async () => {
    const rows = [row({ strategy: 'pick', topK: 4, lambda: 0, renormalize: true, keys: { 1: [2] } })];
    const out = await session.run(rows, 2, randomLogits(4, 2));
    expect(Array.from(out.weights[0]).every((w) => w === 0)).toBe(true);
    expect(Array.from(out.selected[0]).every((w) => w === 0)).toBe(true);
    expect(out.weights[1][2]).toBeCloseTo(1, 6); // layer 1: only key 2, renormalized to 1
    expect(out.weights[1][E + 2]).toBeCloseTo(1, 6);
  });
});
