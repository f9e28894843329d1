import type { Context } from 'hono';
import type { ModelList } from '../../shared/openai/index.ts';
import { loadModels } from '../proxy/catalog.ts';
import type { AppEnv } from './env.ts';

/** The cached model list for this request's configuration. */
export function modelsFor(c: Context<AppEnv>): Promise<ModelList> {
  const config = c.get('config');
  return loadModels({
    origins: config.BACKEND_URLS,
    secret: config.BACKEND_SECRET,
    ttlMs: config.MODELS_CACHE_MS,
    headerTimeoutMs: config.CONNECT_TIMEOUT_MS,
    requestId: c.get('requestId'),
    // Shared across requests through the cache, so one client leaving must not cancel it.
    signal: new AbortController().signal,
  });
}
