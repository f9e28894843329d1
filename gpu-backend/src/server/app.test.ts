import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { OpenAIErrorBody } from '../../../shared/openai/errors.ts';
import { signRequest } from '../../../shared/signing/index.ts';
import { createApp, createMetricsApp } from './app.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';

// The HTTP surface before a model is attached: probes, trust boundary, refusals. Paths that need
// the engine are covered by serve.test.ts against the real tiny model.
const secret = 'app-test-secret-0123456789abcdef';
const logLines: Record<string, unknown>[] = [];
const sink = new Writable({ write(chunk, _enc, done) { logLines.push(...String(chunk).trim().split('\n').map((l) => JSON.parse(l))); done(); } });
const lifecycle = new Lifecycle();
const metrics = createMetrics(() => ({ running: 0, queued: 0, lastBatchSize: 0, kvTokensUsed: 0, kvTokensCapacity: 0, expertsPerTokenByLayer: [], graphRuns: {}, hostReads: 0 }));
const app = createApp({ lifecycle, metrics, logger: pino({ level: 'info' }, sink), secret, modelDir: '/nonexistent', defaultMaxTokens: 16, maxBodyBytes: 4096 });

const errorOf = async (res: Response) => ((await res.json()) as OpenAIErrorBody).error;

async function signed(path: string, body?: unknown, headers: Record<string, string> = {}) {
  const method = body === undefined ? 'GET' : 'POST';
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const sig = await signRequest({ secret, method, path, body: text });
  return app.request(path, { method, body: body === undefined ? undefined : text, headers: { ...sig, 'content-type': 'application/json', ...headers } });
}

describe('backend app without a model', () => {
  it('answers /health openly and /ready with 503 while the model loads', async () => {
    expect(await (await app.request('/health')).json()).toEqual({ status: 'ok' });
    const ready = await app.request('/ready');
    expect(ready.status).toBe(503);
    expect((await errorOf(ready)).code).toBe('model_loading');
  });

  it('requires the signature on /v1/* and /metrics', async () => {
    for (const path of ['/v1/models', '/metrics']) {
      const res = await app.request(path);
      expect(res.status).toBe(401);
      expect((await errorOf(res)).type).toBe('authentication_error');
    }
    expect((await app.request('/v1/chat/completions', { method: 'POST', body: '{}' })).status).toBe(401);
  });

  it('refuses signed work with 503 + Retry-After until the engine is attached', async () => {
    const res = await signed('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect((await errorOf(res))).toMatchObject({ type: 'server_error', code: 'model_loading' });
  });

  it('answers unknown paths with an OpenAI-shaped 404', async () => {
    const res = await app.request('/v2/whatever');
    expect(res.status).toBe(404);
    expect((await errorOf(res))).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
  });

  it('refuses bodies over MAX_BODY_BYTES with 413 before verifying them', async () => {
    const res = await signed('/v1/completions', { model: 'm', prompt: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).type).toBe('invalid_request_error');
  });

  it('echoes the edge x-request-id and logs with it', async () => {
    const res = await app.request('/health', { headers: { 'x-request-id': 'edge-req-42' } });
    expect(res.headers.get('x-request-id')).toBe('edge-req-42');
    expect(logLines.some((l) => l.requestId === 'edge-req-42' && l.path === '/health' && l.status === 200)).toBe(true);
    // Without one, the backend makes its own.
    expect((await app.request('/health')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves Prometheus text with request counts to a signed scrape', async () => {
    const res = await signed('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/pickban_requests_total\{route="\/health",status="200"\} [1-9]/);
    expect(text).toMatch(/pickban_requests_total\{route="\/metrics",status="401"\} [1-9]/);
    expect(text).toMatch(/pickban_requests_total\{route="other",status="404"\} 1/);
    expect(text).toContain('pickban_running_sequences 0');
  });

  it('serves the same metrics unsigned on the separate METRICS_PORT app', async () => {
    const res = await createMetricsApp(metrics).request('/metrics');
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/pickban_requests_total\{route="\/health",status="200"\} [1-9]/);
  });

  it('refuses new work with 503 and turns /ready off once draining', async () => {
    const draining = new Lifecycle();
    draining.drain();
    const drainingApp = createApp({ lifecycle: draining, metrics, logger: pino({ level: 'silent' }), secret, modelDir: '/nonexistent', defaultMaxTokens: 16, maxBodyBytes: 4096 });
    const path = '/v1/models';
    const res = await drainingApp.request(path, { headers: await signRequest({ secret, method: 'GET', path, body: '' }) });
    expect(res.status).toBe(503);
    expect((await errorOf(res)).code).toBe('shutting_down');
    expect((await drainingApp.request('/ready')).status).toBe(503);
    expect((await drainingApp.request('/health')).status).toBe(200);
  });
});
