import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signRequest } from '../../../../shared/signing/index.ts';
import { onError } from '../errors.ts';
import { verifySignature } from './signature.ts';
import type { AppEnv } from '../types.ts';

const secret = 'signature-test-secret-0123456789';
const NOW = 1_800_000_000;
const app = new Hono<AppEnv>();
app.onError(onError);
app.use(verifySignature({ secret, now: () => NOW }));
app.post('/v1/completions', async (c) => c.json({ echoed: await c.req.json() }));
app.get('/metrics', (c) => c.text('ok'));

const body = JSON.stringify({ model: 'm', prompt: 'hi' });
const signed = (over: Partial<{ method: string; path: string; body: string; timestamp: number; secret: string }> = {}) =>
  signRequest({ secret: over.secret ?? secret, method: over.method ?? 'POST', path: over.path ?? '/v1/completions', body: over.body ?? body, timestamp: over.timestamp ?? NOW });
const post = (headers: Record<string, string>, sentBody = body, path = '/v1/completions') => app.request(path, { method: 'POST', body: sentBody, headers });

async function expect401(res: Response, code: string) {
  expect(res.status).toBe(401);
  const json = await res.json();
  expect(json).toEqual({ error: { message: expect.any(String), type: 'authentication_error', param: null, code } });
}

describe('verifySignature', () => {
  it('accepts a valid signature and leaves the body readable for the handler', async () => {
    const res = await post(await signed());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ echoed: { model: 'm', prompt: 'hi' } });
  });

  it('accepts a signature 59 s old (inside the 60 s window)', async () => {
    expect((await post(await signed({ timestamp: NOW - 59 }))).status).toBe(200);
  });

  it('rejects a missing signature', async () => {
    await expect401(await post({}), 'signature_missing');
    const { [TIMESTAMP_HEADER]: _ts, ...onlySig } = await signed();
    await expect401(await post(onlySig), 'signature_missing');
  });

  it('rejects malformed headers', async () => {
    const h = await signed();
    await expect401(await post({ ...h, [SIGNATURE_HEADER]: 'zz' + h[SIGNATURE_HEADER].slice(2) }), 'signature_malformed');
    await expect401(await post({ ...h, [SIGNATURE_HEADER]: h[SIGNATURE_HEADER].slice(0, 62) }), 'signature_malformed');
    await expect401(await post({ ...h, [TIMESTAMP_HEADER]: 'yesterday' }), 'signature_malformed');
  });

  it('rejects signatures older or newer than 60 s', async () => {
    await expect401(await post(await signed({ timestamp: NOW - 61 })), 'signature_expired');
    await expect401(await post(await signed({ timestamp: NOW + 61 })), 'signature_expired');
  });

  it('rejects a signature that does not cover this request', async () => {
    await expect401(await post(await signed({ secret: 'another-secret-0123456789abcdef' })), 'signature_mismatch');
    await expect401(await post(await signed(), body.replace('hi', 'ho')), 'signature_mismatch');
    await expect401(await post(await signed({ path: '/v1/chat/completions' })), 'signature_mismatch');
    await expect401(await post(await signed(), body, '/v1/completions?x=1'), 'signature_mismatch');
    await expect401(await post(await signed({ method: 'PUT' })), 'signature_mismatch');
    // A timestamp moved within the window still breaks the MAC.
    const h = await signed();
    await expect401(await post({ ...h, [TIMESTAMP_HEADER]: String(NOW - 1) }), 'signature_mismatch');
  });

  it('signs GETs over an empty body', async () => {
    const h = await signRequest({ secret, method: 'GET', path: '/metrics', body: '', timestamp: NOW });
    expect((await app.request('/metrics', { headers: h })).status).toBe(200);
    await expect401(await app.request('/metrics'), 'signature_missing');
  });
});
