import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../../../shared/openai/index.ts';
import { API_KEY_PATTERN, hashApiKey, type KeyRecord } from '../../keys/record.ts';
import type { AppEnv } from '../../src/env.ts';

export interface ApiKeyAuthOptions {
  /** Finds a key record by the SHA-256 (hex) of the presented key. */
  lookup: (hash: string, c: Context<AppEnv>) => Promise<KeyRecord | null>;
}

const refuse = (message: string) =>
  new ApiError(401, message, null, 'invalid_api_key', { 'WWW-Authenticate': 'Bearer realm="pickban"' });

/** Bearer API keys: a missing, malformed, unknown or disabled key is a 401 `invalid_api_key`. */
export function apiKeyAuth({ lookup }: ApiKeyAuthOptions): MiddlewareHandler<AppEnv> {
  return async function apiKeyAuth(c, next) {
    const header = c.req.header('authorization');
    if (!header) throw refuse('Missing API key: send it as "Authorization: Bearer <key>".');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw refuse('Malformed Authorization header: expected "Bearer <key>".');
    // The shape check spares a KV read for garbage and never echoes the key back.
    if (!API_KEY_PATTERN.test(match[1])) throw refuse('Malformed API key: PickBan keys start with "pb_".');
    const record = await lookup(await hashApiKey(match[1]), c);
    if (!record) throw refuse('Incorrect API key provided.');
    if (record.disabled) throw refuse('This API key has been revoked.');
    c.set('apiKey', record);
    await next();
  };
}
