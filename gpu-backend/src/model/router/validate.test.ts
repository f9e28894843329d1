import { describe, expect, it } from 'vitest';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import type { RoutingLimits } from '../../../../shared/routing/schema.ts';
import { packRouterInputs } from './pack.ts';
import { resolvedRow } from './test-harness.ts';
import { assertResolvedRouting, assertRoutingBounds, keyMaskFromIds, RouterParamError } from './validate.ts';

const limits = { numLayers: 3, numExperts: 8, maxTopK: 4 };
const good = (over: Partial<ResolvedRouting> = {}) => resolvedRow(3, 8, { topK: 2, ...over });
const rejects = (row: ResolvedRouting, param: string, message: RegExp) => {
  let caught: unknown;
  try {
    packRouterInputs([good(), row], limits);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RouterParamError);
  expect((caught as RouterParamError).param).toBe(param);
  expect((caught as Error).message).toMatch(/^batch row 1: /);
  expect((caught as Error).message).toMatch(message);
};

describe('router parameter validation (before any graph runs)', () => {
  it('rejects each bad parameter with an error naming it', () => {
    rejects(good({ strategy: 'bogus' as never }), 'routing.strategy', /unknown strategy 'bogus'/);
    rejects(good({ topK: 0 }), 'routing.top_k', /between 1 and 4, got 0/);
    rejects(good({ topK: 5 }), 'routing.top_k', /between 1 and 4, got 5/);
    rejects(good({ topK: 2.5 }), 'routing.top_k', /integer/);
    rejects(good({ minExperts: 3 }), 'routing.min_experts', /top_k \(2\), got 3/);
    rejects(good({ lambda: 1.5 }), 'routing.lambda', /between 0 and 1, got 1.5/);
    rejects(good({ tau: -0.1 }), 'routing.tau', /between 0 and 1, got -0.1/);
    rejects(good({ tau: NaN }), 'routing.tau', /got NaN/);
    rejects(good({ keyExpertMask: new Uint8Array(3 * 9) }), 'routing.key_experts', /27 entries, expected 3 layers x 8 experts = 24/);
    rejects(good({ keyExpertMask: new Uint8Array(24).fill(2, 10, 11) }), 'routing.key_experts.1', /expert 2 is 2/);
    rejects(good({ layerSensitivity: Float32Array.of(0, 1) }), 'routing.profile', /2 entries, expected 3/);
    rejects(good({ layerSensitivity: Float32Array.of(0, 1.5, 0) }), 'routing.profile', /layer_sensitivity\[1\]/);
    rejects(good({ rMax: Infinity }), 'routing.profile', /r_max must be a finite number/);
  });

  it('accepts the edges of every range', () => {
    for (const row of [good({ lambda: 0, tau: 1, topK: 4, minExperts: 4 }), good({ lambda: 1, tau: 0, topK: 1, minExperts: 1 })]) {
      expect(() => assertResolvedRouting(row, limits)).not.toThrow();
    }
  });

  it('turns key-expert ids into a mask, rejecting expert ids >= E and layers >= L', () => {
    const mask = keyMaskFromIds({ 0: [1], 2: [7] }, limits);
    expect([...mask.keys()].filter((i) => mask[i])).toEqual([1, 23]);
    expect(() => keyMaskFromIds({ 1: [8] }, limits)).toThrow(/expert id 8 is out of range: the model has 8 experts/);
    expect(() => keyMaskFromIds({ 3: [0] }, limits)).toThrow(/layer 3 is out of range: the model has 3 layers/);
  });

  it('reuses the shared request-level bounds check', () => {
    const l: RoutingLimits = { num_layers: 3, num_experts: 8, default_top_k: 2, max_top_k: 4, strategies: ['top_k', 'ban'], profiles: [], renormalize_default: false };
    expect(() => assertRoutingBounds({ strategy: 'pick' }, l)).toThrow(RouterParamError);
    expect(() => assertRoutingBounds({ top_k: 9 }, l)).toThrow(/top_k must be between 1 and 4/);
    expect(() => assertRoutingBounds({ strategy: 'ban', tau: 0.5 }, l)).not.toThrow();
  });

  it('packs rows into the route_* tensors of the graph contract', () => {
    const rows = [
      good({ strategy: 'pick', lambda: 0.25, renormalize: true, keyExpertMask: keyMaskFromIds({ 1: [3] }, limits) }),
      good({ strategy: 'ban_and_pick', topK: 4, minExperts: 2, rMin: 0.4, rMax: 0.9 }),
    ];
    const t = packRouterInputs(rows, limits);
    expect(Array.from(t.route_strategy.data as Int32Array)).toEqual([1, 4]);
    expect(t.route_key_mask.dims).toEqual([2, 3, 8]);
    expect((t.route_key_mask.data as Float32Array)[8 + 3]).toBe(1);
    expect(Array.from(t.route_lambda.data as Float32Array)).toEqual([0.25, 1]);
    expect(Array.from(t.route_top_k.data as Int32Array)).toEqual([2, 4]);
    expect(Array.from(t.route_min_experts.data as Int32Array)).toEqual([1, 2]);
    expect(t.route_renormalize.type).toBe('bool');
    expect(Array.from(t.route_renormalize.data as Uint8Array)).toEqual([1, 0]);
    // Only ban_and_pick rows carry W' (1 without a profile) and the R range.
    expect(Array.from(t.route_layer_sensitivity.data as Float32Array)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(t.route_r_range.data as Float32Array).map((v) => +v.toFixed(6))).toEqual([0, 0, 0.4, 0.9]);
    expect(() => packRouterInputs([], limits)).toThrow(/no batch rows/);
  });
});
