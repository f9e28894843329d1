import { env } from 'cloudflare:test';
import { inject } from 'vitest';
import { DEFAULT_KEY_POLICY, generateApiKey, generateKeyId, hashApiKey, kvName, type KeyRecord } from '../keys/record.ts';
import type { LogEntry } from './fake-backend.ts';
import app from '../src/index.ts';

/** Helpers for edge tests inside workerd: the real app, real KV and rate-limit bindings, the fake backend. */
export const fakeBackend = inject('fakeBackend');
export const origin = (behaviour = 'ok') => `${fakeBackend}/o/${behaviour}`;

export function edgeEnv(overrides: Record<string, string> = {}) {
  return { ...env, BACKEND_URLS: origin('ok'), ...overrides } as unknown as Parameters<typeof app.fetch>[1];
}

/** Calls the Worker's fetch handler with the test env (plus overrides, e.g. BACKEND_URLS). */
export function callEdge(path: string, init: RequestInit = {}, overrides: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`http://edge.test${path}`, init), edgeEnv(overrides)));
}

/** Stores a key record in the test KV and returns the plaintext key. */
export async function putKey(policy: Partial<Omit<KeyRecord, 'id' | 'created'>> = {}): Promise<{ key: string; record: KeyRecord }> {
  const key = generateApiKey();
  const record: KeyRecord = { id: generateKeyId(), name: 'test', created: new Date().toISOString(), disabled: false, ...DEFAULT_KEY_POLICY, ...policy };
  await env.API_KEYS.put(kvName(await hashApiKey(key)), JSON.stringify(record));
  return { key, record };
}

let seq = 0;
export const newRequestId = () => `test-${Date.now()}-${++seq}`;

export function chat(key: string, body: Record<string, unknown>, opts: { requestId?: string; overrides?: Record<string, string>; signal?: AbortSignal } = {}) {
  return callEdge(
    '/v1/chat/completions',
    {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}) },
      body: JSON.stringify({ model: 'fake-moe', messages: [{ role: 'user', content: 'hi' }], ...body }),
      signal: opts.signal,
    },
    opts.overrides,
  );
}

/**
 * What the fake backend saw for a request id. The model-list fetch a cold cache makes carries the
 * id of the request that caused it; it is left out unless asked for.
 */
export async function backendLog(requestId: string, opts: { withModels?: boolean } = {}): Promise<LogEntry[]> {
  const log = await (await fetch(`${fakeBackend}/__log?rid=${encodeURIComponent(requestId)}`)).json<LogEntry[]>();
  return opts.withModels ? log : log.filter((e) => e.path !== '/v1/models');
}

/** Reads a stream until a whole SSE event (blank-line terminated) has arrived. */
export async function firstEvent(res: Response): Promise<{ text: string; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return { text, reader };
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
