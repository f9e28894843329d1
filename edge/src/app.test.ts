import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { backendLog, callEdge, chat, newRequestId, origin, putKey } from '../test/helpers.ts';

const { key } = await putKey();
const auth = { authorization: `Bearer ${key}` };

describe('edge app', () => {
  it('serves /health without a key, through the real Worker entry', async () => {
    const res = await SELF.fetch('http://edge.test/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with an OpenAI-shaped 404', async () => {
    const res = await callEdge('/v2/nothing', { headers: auth });
    expect(res.status).toBe(404);
    expect((await res.json<{ error: Record<string, unknown> }>()).error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
  });

  it('carries the client x-request-id end to end, on success and on refusal', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true }, { requestId });
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await res.text();
    expect((await backendLog(requestId))[0].headers['x-request-id']).toBe(requestId);
    const refused = await callEdge('/v1/models', { headers: { 'x-request-id': requestId } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe(requestId);
  });

  it('generates a request id when the client sends none or an unsafe one', async () => {
    const res = await chat(key, {}, { requestId: 'bad id\twith spaces' });
    const generated = res.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(await backendLog(generated)).toHaveLength(1);
  });

  it('drops hop-by-hop and backend-identifying response headers (RFC 9110 7.6.1)', async () => {
    const res = await chat(key, { stream: true });
    for (const name of ['connection', 'keep-alive', 'server', 'x-powered-by']) expect(res.headers.get(name)).toBeNull();
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    await res.text();
  });

  it('proxies /v1/models narrowed to the key, from a short cache', async () => {
    const overrides = { BACKEND_URLS: origin('models-cache') };
    const first = newRequestId();
    const all = await callEdge('/v1/models', { headers: { ...auth, 'x-request-id': first } }, overrides);
    expect(all.status).toBe(200);
    const list = await all.json<{ data: Array<{ id: string; routing: { num_experts: number } }> }>();
    expect(list.data.map((m) => m.id)).toEqual(['fake-moe']);
    expect(list.data[0].routing.num_experts).toBe(8);
    expect(await backendLog(first, { withModels: true })).toHaveLength(1);

    const second = newRequestId();
    expect((await callEdge('/v1/models', { headers: { ...auth, 'x-request-id': second } }, overrides)).status).toBe(200);
    expect(await backendLog(second, { withModels: true })).toEqual([]);

    const narrow = await putKey({ models: ['something-else'] });
    const mine = await callEdge('/v1/models', { headers: { authorization: `Bearer ${narrow.key}` } }, overrides);
    expect((await mine.json<{ data: unknown[] }>()).data).toEqual([]);
  });

  it('fails closed with a generic 500 when misconfigured, leaking no setting', async () => {
    const res = await callEdge('/v1/models', { headers: auth }, { BACKEND_URLS: 'not a url', BACKEND_SECRET: 'a-long-enough-secret-x' });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text).error).toMatchObject({ type: 'server_error' });
    expect(text).not.toContain('a-long-enough-secret-x');
    expect(text).not.toContain('BACKEND_URLS');
  });
});
