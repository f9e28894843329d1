import { describe, expect, it } from 'vitest';
import { callEdge, putKey } from '../../test/helpers.ts';

const { key } = await putKey();
const post = (body: BodyInit, headers: Record<string, string> = { 'content-type': 'application/json' }, overrides = {}, path = '/v1/chat/completions') =>
  callEdge(path, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body }, overrides);

async function expectError(res: Response, status: number, match: Record<string, unknown>) {
  expect(res.status).toBe(status);
  const body = await res.json<{ error: Record<string, unknown> }>();
  expect(body.error).toMatchObject(match);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return body.error;
}

describe('openaiBody', () => {
  it('refuses a missing or wrong content type with 400', async () => {
    await expectError(await post('{}', {}), 400, { code: 'invalid_content_type', type: 'invalid_request_error' });
    await expectError(await post('{}', { 'content-type': 'text/plain' }), 400, { code: 'invalid_content_type' });
  });

  it('refuses malformed JSON and non-object JSON with 400', async () => {
    await expectError(await post('{"model": "fake-moe",'), 400, { code: 'invalid_json', param: null });
    await expectError(await post('[1,2]'), 400, { code: 'invalid_json' });
  });

  it('names the offending param from the shared schema', async () => {
    await expectError(await post(JSON.stringify({ model: 'fake-moe' })), 400, { param: 'messages', code: 'invalid_request' });
    await expectError(await post(JSON.stringify({ model: 'fake-moe', messages: [{ role: 'user', content: 'x' }], temperature: 3 })), 400, { param: 'temperature' });
    await expectError(await post(JSON.stringify({ model: 'fake-moe', prompt: ['a', 'b'] }), undefined, {}, '/v1/completions'), 400, { param: 'prompt' });
  });

  it('is strict on routing but loose on unknown OpenAI fields', async () => {
    const messages = [{ role: 'user', content: 'x' }];
    await expectError(await post(JSON.stringify({ model: 'fake-moe', messages, routing: { strategy: 'pick', bogus: 1 } })), 400, { param: 'routing.bogus' });
    const ok = await post(JSON.stringify({ model: 'fake-moe', messages, logprobs: false, frequency_penalty: 0 }));
    expect(ok.status).toBe(200);
  });

  it('answers 413 for a body over the limit, by Content-Length', async () => {
    const big = JSON.stringify({ model: 'fake-moe', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    await expectError(await post(big, undefined, { MAX_BODY_BYTES: '1000' }), 413, { code: 'request_too_large', type: 'invalid_request_error' });
    expect((await post(big, undefined, { MAX_BODY_BYTES: '100000' })).status).toBe(200);
  });

  it('answers 413 for a streamed body with no Content-Length once it passes the limit', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ model: 'fake-moe', messages: [{ role: 'user', content: 'y'.repeat(5000) }] }));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 512) controller.enqueue(bytes.slice(i, i + 512));
        controller.close();
      },
    });
    await expectError(await post(stream, undefined, { MAX_BODY_BYTES: '2048' }), 413, { code: 'request_too_large' });
  });
});
