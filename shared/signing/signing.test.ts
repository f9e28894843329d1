import { it, expect } from 'vitest';
import { signRequest, verifyRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './index.ts';

const base = { secret: 's3cret', method: 'POST', path: '/v1/chat/completions', body: '{"a":1}' };

it('verifies its own signature and refuses each failure mode', async () => {
  const now = 1_800_000_000;
  const h = await signRequest({ ...base, timestamp: now });
  const check = (over: Partial<Parameters<typeof verifyRequest>[0]>) =>
    verifyRequest({ ...base, signature: h[SIGNATURE_HEADER], timestamp: h[TIMESTAMP_HEADER], now, ...over });
  expect(await check({})).toEqual({ ok: true });
  expect(await check({ signature: null })).toEqual({ ok: false, reason: 'missing' });
  expect(await check({ signature: 'zz' })).toEqual({ ok: false, reason: 'malformed' });
  expect(await check({ now: now + 61 })).toEqual({ ok: false, reason: 'expired' });
  expect(await check({ body: '{"a":2}' })).toEqual({ ok: false, reason: 'mismatch' });
  expect(await check({ path: '/v1/completions' })).toEqual({ ok: false, reason: 'mismatch' });
  expect(await check({ secret: 'other' })).toEqual({ ok: false, reason: 'mismatch' });
});
