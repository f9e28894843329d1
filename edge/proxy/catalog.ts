import { ApiError, ModelListSchema, type ModelList } from '../../shared/openai/index.ts';
import { backendError } from './backend-error.ts';
import { fetchUpstream } from './upstream.ts';

export interface CatalogOptions {
  origins: string[];
  secret: string;
  ttlMs: number;
  headerTimeoutMs: number;
  requestId: string;
  signal: AbortSignal;
}

interface Entry {
  expires: number;
  list: Promise<ModelList>;
}

// Per isolate: a Worker isolate serves many requests, so one fetch per TTL covers them all, and
// concurrent misses share the same promise instead of stampeding the backend.
const cache = new Map<string, Entry>();

async function fetchModels(opts: CatalogOptions): Promise<ModelList> {
  const { response } = await fetchUpstream({
    origins: opts.origins,
    path: '/v1/models',
    method: 'GET',
    body: '',
    headers: { accept: 'application/json', 'x-request-id': opts.requestId },
    secret: opts.secret,
    signal: opts.signal,
    headerTimeoutMs: opts.headerTimeoutMs,
  });
  if (!response.ok) throw await backendError(response);
  const parsed = ModelListSchema.safeParse(await response.json().catch(() => null));
  if (!parsed.success) throw new ApiError(502, 'The model backend sent an invalid model list.', null, 'backend_error');
  return parsed.data;
}

/** The backend's model list (ids and routing limits), reused for `ttlMs`; failures are not cached. */
export function loadModels(opts: CatalogOptions): Promise<ModelList> {
  const key = opts.origins.join(',');
  const hit = cache.get(key);
  if (hit && hit.expires > Date.now()) return hit.list;
  const list = fetchModels(opts);
  cache.set(key, { expires: Date.now() + opts.ttlMs, list });
  list.catch(() => cache.get(key)?.list === list && cache.delete(key));
  return list;
}

export function clearModelCache(): void {
  cache.clear();
}
