import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, kvName } from '../../keys/record.ts';
import { callEdge, putKey } from '../../test/helpers.ts';

const models = (authorization?: string) => callEdge('/v1/models', { headers: authorization ? { authorization } : {} });

async function expectInvalidKey(res: Response, fragment: string) {
  expect(res.status).toBe(401);
  const body = await res.json<{ error: Record<string, unknown> }>();
  expect(body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key', param: null });
  expect(String(body.error.message)).toContain(fragment);
}

describe('apiKeyAuth', () => {
  it('refuses a missing key', async () => {
    await expectInvalidKey(await models(), 'Missing API key');
  });

  it('refuses a malformed header and a malformed key without echoing it', async () => {
    await expectInvalidKey(await models('Basic abc'), 'Malformed Authorization');
    const res = await models('Bearer sk-not-ours-1234');
    const text = await res.clone().text();
    expect(text).not.toContain('sk-not-ours');
    await expectInvalidKey(res, 'Malformed API key');
  });

  it('refuses an unknown well-formed key', async () => {
    await expectInvalidKey(await models(`Bearer ${generateApiKey()}`), 'Incorrect API key');
  });

  it('refuses a disabled key', async () => {
    const { key } = await putKey({ disabled: true });
    await expectInvalidKey(await models(`Bearer ${key}`), 'revoked');
  });

  it('treats a corrupt record as unknown rather than trusting it', async () => {
    const key = generateApiKey();
    await env.API_KEYS.put(kvName(await hashApiKey(key)), JSON.stringify({ id: 'x', models: ['*'] }));
    await expectInvalidKey(await models(`Bearer ${key}`), 'Incorrect API key');
  });

  it('admits a valid key, found by the hash of the key only', async () => {
    const { key } = await putKey();
    expect(await env.API_KEYS.get(key)).toBeNull();
    const res = await models(`Bearer ${key}`);
    expect(res.status).toBe(200);
  });
});
