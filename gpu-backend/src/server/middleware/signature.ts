import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../../../shared/openai/errors.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyRequest, type VerifyResult } from '../../../../shared/signing/index.ts';

export interface SignatureOptions {
  secret: string;
  /** Unix seconds; injectable so the expiry window can be tested without waiting. */
  now?: () => number;
}

const MESSAGES: Record<Exclude<VerifyResult, { ok: true }>['reason'], string> = {
  missing: `Missing request signature: the backend only accepts requests signed by the edge (${SIGNATURE_HEADER}, ${TIMESTAMP_HEADER}).`,
  malformed: 'Malformed request signature or timestamp.',
  expired: 'Request signature expired: the timestamp is more than 60 s away from the server clock.',
  mismatch: 'Request signature does not match.',
};

/**
 * The trust boundary: only the edge, holding the shared secret, may call the backend. Verifies the
 * HMAC over method, path+query, timestamp and body hash (shared/signing compares in constant time).
 */
export function verifySignature({ secret, now }: SignatureOptions): MiddlewareHandler {
  return async function verifySignature(c, next) {
    const url = new URL(c.req.url);
    // Hono caches the bytes, so the route handler can still read the body after this.
    const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? '' : new Uint8Array(await c.req.arrayBuffer());
    const result = await verifyRequest({
      secret,
      method: c.req.method,
      path: url.pathname + url.search,
      body,
      signature: c.req.header(SIGNATURE_HEADER),
      timestamp: c.req.header(TIMESTAMP_HEADER),
      now: now?.(),
    });
    if (!result.ok) throw new ApiError(401, MESSAGES[result.reason], null, `signature_${result.reason}`);
    await next();
  };
}
