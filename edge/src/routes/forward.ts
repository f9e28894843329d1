import type { Handler } from 'hono';
import { backendError } from '../../proxy/backend-error.ts';
import { endToEndHeaders } from '../../proxy/headers.ts';
import { relaySse } from '../../proxy/relay.ts';
import { fetchUpstream } from '../../proxy/upstream.ts';
import { MAX_TOKENS_CAP_HEADER } from '../../../shared/signing/index.ts';
import type { AppEnv } from '../env.ts';

/** Header the backend may use to attribute work (logs, metrics) to a key without seeing the key. */
export const KEY_ID_HEADER = 'x-pickban-key-id';

/**
 * Forwards a validated completion request to the backend, signed, and relays the answer.
 * Only chosen headers go upstream: the client's Authorization must never reach the backend.
 */
export function forward(path: string): Handler<AppEnv> {
  return async function forward(c) {
    const config = c.get('config');
    const body = c.get('body');
    const streaming = body.request.stream === true;
    const { response, abort } = await fetchUpstream({
      origins: config.BACKEND_URLS,
      path,
      method: 'POST',
      body: body.text,
      headers: {
        'content-type': 'application/json',
        accept: streaming ? 'text/event-stream' : 'application/json',
        'x-request-id': c.get('requestId'),
        [KEY_ID_HEADER]: c.get('apiKey').id,
        [MAX_TOKENS_CAP_HEADER]: String(c.get('apiKey').max_tokens),
      },
      secret: config.BACKEND_SECRET,
      signal: c.get('clientSignal'),
      // Without streaming the backend's headers come only with the finished answer.
      headerTimeoutMs: streaming ? config.CONNECT_TIMEOUT_MS : config.FIRST_BYTE_TIMEOUT_MS,
    });
    if (!response.ok) throw await backendError(response);
    const headers = endToEndHeaders(response.headers);
    headers.set('x-request-id', c.get('requestId'));
    const sse = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (!sse || !response.body) return new Response(response.body, { status: response.status, headers });
    const relayed = await relaySse(response.body, {
      keepaliveMs: config.KEEPALIVE_MS,
      firstByteTimeoutMs: config.FIRST_BYTE_TIMEOUT_MS,
      abort,
    });
    headers.set('cache-control', 'no-cache');
    headers.delete('content-length');
    return c.body(relayed, { status: 200, headers });
  };
}
