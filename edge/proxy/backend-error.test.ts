import { describe, expect, it } from 'vitest';
import { chat, putKey } from '../test/helpers.ts';
import { backendError, scrub } from './backend-error.ts';

const { key } = await putKey();
const LEAKS = ['10.0.0.7', 'http://', '/srv/gpu-backend', 'runner.ts', 'test-backend-secret', '    at '];

async function errorOf(res: Response) {
  const text = await res.text();
  for (const leak of LEAKS) expect(text).not.toContain(leak);
  return JSON.parse(text).error as Record<string, unknown>;
}

describe('backend errors reach the client OpenAI-shaped, without internals', () => {
  it('keeps a client error (4xx) with its param and code, scrubbed', async () => {
    const res = await chat(key, { x_scenario: 'error-400' });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' });
    expect(String(error.message)).toContain('prompt too long');
  });

  it('replaces a server error message with a generic one', async () => {
    const res = await chat(key, { x_scenario: 'error-500' });
    expect(res.status).toBe(500);
    expect(await errorOf(res)).toMatchObject({ type: 'server_error', code: 'internal_error', message: 'The model backend failed to process the request.' });
  });

  it('turns a non-JSON error page into a 502 OpenAI error', async () => {
    const res = await chat(key, { x_scenario: 'error-html' });
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toMatchObject({ type: 'server_error', code: 'backend_error' });
  });

  it('maps a refused signature (backend 401) to 502, never to the client key error', async () => {
    const err = await backendError(Response.json({ error: { message: 'bad signature', type: 'authentication_error' } }, { status: 401 }));
    expect(err.status).toBe(502);
    expect(err.code).not.toBe('invalid_api_key');
  });

  it('keeps a numeric Retry-After from an overloaded backend', async () => {
    const err = await backendError(Response.json({ error: { message: 'queue full' } }, { status: 429, headers: { 'retry-after': '3' } }));
    expect(err.status).toBe(429);
    expect(err.headers['Retry-After']).toBe('3');
  });

  it('scrub removes URLs, stack frames and file paths', () => {
    expect(scrub('failed at https://internal:8000/v1?x=1\n    at f (/a/b/c.ts:1:2)\nnear /srv/app/x.js:3')).toBe('failed at [backend] near [path]');
  });
});
