import { describe, expect, it } from 'vitest';
import { backendLog, chat, newRequestId, origin, putKey } from '../test/helpers.ts';

const { key, record } = await putKey();
// Nothing listens on port 9 (discard) locally: the connection is refused.
const DEAD = 'http://127.0.0.1:9';
const urls = (...origins: string[]) => ({ BACKEND_URLS: origins.join(','), CONNECT_TIMEOUT_MS: '300' });

describe('forwarding and failover', () => {
  it('signs the request so the backend verifies it, and sends only chosen headers', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true }, { requestId });
    expect(res.status).toBe(200);
    await res.text();
    const [seen] = await backendLog(requestId);
    expect(seen.signature).toEqual({ ok: true });
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers['x-pickban-key-id']).toBe(record.id);
    expect(seen.headers['x-request-id']).toBe(requestId);
    // The client's key must never reach the backend.
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(key);
  });

  it('fails over from a refused connection to the next origin', async () => {
    const requestId = newRequestId();
    const res = await chat(key, {}, { requestId, overrides: urls(DEAD, origin('ok')) });
    expect(res.status).toBe(200);
    expect((await backendLog(requestId)).map((e) => e.origin)).toEqual(['ok']);
  });

  it('fails over from a 503 and from an origin that never answers, before the first byte', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true }, { requestId, overrides: urls(origin('down'), origin('hang'), origin('ok')) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data: [DONE]');
    const seen = await backendLog(requestId);
    expect(seen.map((e) => e.origin)).toEqual(['down', 'hang', 'ok']);
    expect(seen.every((e) => e.signature.ok)).toBe(true);
  });

  it('never retries once the answer has started', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { x_scenario: 'error-400' }, { requestId, overrides: urls(origin('ok'), origin('ok2')) });
    expect(res.status).toBe(400);
    expect(await backendLog(requestId)).toHaveLength(1);
  });

  it('answers 502 when no origin is reachable, naming none', async () => {
    const res = await chat(key, {}, { overrides: urls(DEAD, 'http://127.0.0.1:7') });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(JSON.parse(text).error).toMatchObject({ type: 'server_error', code: 'backend_unavailable' });
    expect(text).not.toContain('127.0.0.1');
  });

  it('answers 504 when origins accept but never answer (connect timeout)', async () => {
    const res = await chat(key, { stream: true }, { overrides: urls(origin('hang'), origin('hang')) });
    expect(res.status).toBe(504);
    expect((await res.json<{ error: Record<string, unknown> }>()).error).toMatchObject({ type: 'timeout_error', code: 'backend_timeout' });
  });

  it('answers 504 when a non-streaming answer takes longer than the first-byte timeout', async () => {
    const res = await chat(key, { x_scenario: 'slow:2000' }, { overrides: { FIRST_BYTE_TIMEOUT_MS: '300' } });
    expect(res.status).toBe(504);
  });
});
