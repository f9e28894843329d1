import { describe, expect, it } from 'vitest';
import { backendLog, chat, newRequestId, putKey } from '../../test/helpers.ts';

async function expectForbidden(res: Response, param: string, fragment: string) {
  expect(res.status).toBe(403);
  const { error } = await res.json<{ error: Record<string, unknown> }>();
  expect(error).toMatchObject({ type: 'permission_error', param });
  expect(String(error.message)).toContain(fragment);
}

describe('keyPolicy', () => {
  it('refuses a model the key may not use, naming it', async () => {
    const { key } = await putKey({ models: ['other-model'] });
    const requestId = newRequestId();
    await expectForbidden(await chat(key, {}, { requestId }), 'model', "'fake-moe'");
    expect(await backendLog(requestId)).toEqual([]);
  });

  it('refuses max_tokens or max_completion_tokens above the key cap (no silent clamp)', async () => {
    const { key } = await putKey({ max_tokens: 64 });
    await expectForbidden(await chat(key, { max_tokens: 65 }), 'max_tokens', 'limit of 64');
    await expectForbidden(await chat(key, { max_completion_tokens: 100 }), 'max_completion_tokens', '100');
    expect((await chat(key, { max_tokens: 64 })).status).toBe(200);
  });

  it('sends the key cap beside a request that sets no token limit, body untouched', async () => {
    const { key } = await putKey({ max_tokens: 77 });
    const requestId = newRequestId();
    expect((await chat(key, { temperature: 0.5 }, { requestId })).status).toBe(200);
    const [seen] = await backendLog(requestId);
    expect(seen.headers['x-pickban-max-tokens-cap']).toBe('77');
    expect(JSON.parse(seen.body)).not.toHaveProperty('max_tokens');
    expect(JSON.parse(seen.body)).toMatchObject({ temperature: 0.5, model: 'fake-moe' });
  });

  it('forwards a request that sets its own limit byte for byte', async () => {
    const { key } = await putKey();
    const requestId = newRequestId();
    expect((await chat(key, { max_tokens: 5, extra_field: { a: 1 } }, { requestId })).status).toBe(200);
    const [seen] = await backendLog(requestId);
    expect(seen.body).toBe(JSON.stringify({ model: 'fake-moe', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, extra_field: { a: 1 } }));
  });

  it('refuses a routing strategy the key does not allow, naming it', async () => {
    const { key } = await putKey({ routing: { raw_key_experts: true, strategies: ['top_k', 'pick'] } });
    await expectForbidden(await chat(key, { routing: { strategy: 'ban', key_experts: { '*': [1] } } }), 'routing.strategy', "'ban'");
    expect((await chat(key, { routing: { strategy: 'pick', key_experts: { '*': [1] } } })).status).toBe(200);
  });

  it('refuses raw key_experts when only profiles are allowed, and admits a profile', async () => {
    const { key } = await putKey({ routing: { raw_key_experts: false, strategies: ['top_k', 'pick'] } });
    await expectForbidden(await chat(key, { routing: { strategy: 'pick', key_experts: { '0': [1, 2] } } }), 'routing.key_experts', 'profile');
    expect((await chat(key, { routing: { profile: 'creative' } })).status).toBe(200);
  });
});
