import { describe, expect, it } from 'vitest';
import { callEdge, putKey } from '../../test/helpers.ts';
import { tierFor, type RateTier } from './index.ts';

const tier = (rpm: number) => ({ rpm, limiter: {} as RateLimit }) satisfies RateTier;

describe('tierFor', () => {
  const tiers = [tier(10), tier(60), tier(600)];
  it('picks the largest tier at or below the key rpm, never above it', () => {
    expect(tierFor(60, tiers)?.rpm).toBe(60);
    expect(tierFor(599, tiers)?.rpm).toBe(60);
    expect(tierFor(100_000, tiers)?.rpm).toBe(600);
  });
  it('falls back to the smallest tier below it', () => {
    expect(tierFor(3, tiers)?.rpm).toBe(10);
    expect(tierFor(5, [])).toBeUndefined();
  });
});

describe('rateLimit with the Workers Rate Limiting binding', () => {
  const models = (key: string) => callEdge('/v1/models', { headers: { authorization: `Bearer ${key}` } });

  it('answers 429 with Retry-After once a key passes its rpm, per key', async () => {
    const limited = await putKey({ rpm: 10 });
    const other = await putKey({ rpm: 10 });
    // The simulated limiter counts per minute window; don't straddle a window boundary.
    const msLeft = 60_000 - (Date.now() % 60_000);
    if (msLeft < 3000) await new Promise((r) => setTimeout(r, msLeft + 50));
    for (let i = 0; i < 10; i++) expect((await models(limited.key)).status).toBe(200);
    const refused = await models(limited.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    const body = await refused.json<{ error: Record<string, unknown> }>();
    expect(body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
    expect((await models(other.key)).status).toBe(200);
  });
});
