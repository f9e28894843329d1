import { signRequest } from '../../../shared/signing/index.ts';

/**
 * Calls the backend the way the edge does: JSON body, HMAC headers, x-request-id. Used by the
 * server tests and `npm run bench:serve`; the edge has its own proxy.
 */
export async function signedFetch(baseUrl: string, secret: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const method = body === undefined ? 'GET' : 'POST';
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(await signRequest({ secret, method, path, body: text }))) headers.set(k, v);
  if (body !== undefined) headers.set('content-type', 'application/json');
  return fetch(baseUrl + path, { ...init, method, headers, body: body === undefined ? undefined : text });
}
