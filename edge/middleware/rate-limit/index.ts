import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../../../shared/openai/index.ts';
import type { AppEnv } from '../../src/env.ts';

export interface RateTier {
  rpm: number;
  limiter: RateLimit;
}

export interface RateLimitOptions {
  /** Limiters by requests per minute; a binding's limit is fixed in wrangler.toml, so tiers stand in for per-key limits. */
  tiers: (c: Context<AppEnv>) => RateTier[];
  /** Seconds a refused client should wait: the binding's period. */
  retryAfterS?: number;
}

/**
 * The tier a key's rpm maps to: the largest at or below it, so a key never gets more than it was
 * granted; below the smallest tier the smallest applies (the finest granularity configured).
 */
export function tierFor(rpm: number, tiers: RateTier[]): RateTier | undefined {
  let chosen = tiers[0];
  for (const t of tiers) if (t.rpm <= rpm) chosen = t;
  return chosen;
}

/** Per-key rate limiting through the Workers Rate Limiting binding (simulated by wrangler locally). */
export function rateLimit({ tiers, retryAfterS = 60 }: RateLimitOptions): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const key = c.get('apiKey');
    const tier = tierFor(key.rpm, tiers(c));
    if (tier) {
      const { success } = await tier.limiter.limit({ key: key.id });
      if (!success) {
        throw new ApiError(429, `Rate limit reached for this API key (${tier.rpm} requests per minute). Retry after ${retryAfterS} s.`, null, 'rate_limit_exceeded', {
          'Retry-After': String(retryAfterS),
        });
      }
    }
    await next();
  };
}
