import { Hono, type Context } from 'hono';
import { requestId } from 'hono/request-id';
import { ChatCompletionRequestSchema, CompletionRequestSchema } from '../../shared/openai/index.ts';
import { apiKeyAuth } from '../middleware/api-key-auth/index.ts';
import { cachedLookup } from '../middleware/api-key-auth/cache.ts';
import { lookupKeyInKv } from '../middleware/api-key-auth/lookup.ts';
import { keyPolicy } from '../middleware/key-policy/index.ts';
import { openaiBody } from '../middleware/openai-body/index.ts';
import { rateLimit } from '../middleware/rate-limit/index.ts';
import { routingBounds } from '../middleware/routing-bounds/index.ts';
import { edgeConfig, type AppEnv } from './env.ts';
import { notFound, onError } from './errors.ts';
import { modelsFor } from './models.ts';
import { forward } from './routes/forward.ts';
import { listModels } from './routes/models.ts';

/**
 * Order matters: identify the request, then the key (401), then spend its rate (429), and only
 * then read and check the body (413/400/403/404), so anonymous traffic never costs a parse.
 */
export function createApp({ keyCacheMs = 10_000 }: { keyCacheMs?: number } = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(onError);
  app.notFound(notFound);
  app.use(requestId());
  app.get('/health', (c) => c.json({ ok: true }));

  app.use('/v1/*', async function config(c, next) {
    c.set('config', edgeConfig(c.env));
    // Kept before any body middleware may rebuild c.req.raw: this is the signal workerd fires on disconnect.
    c.set('clientSignal', c.req.raw.signal);
    await next();
  });
  const lookup = (hash: string, c: Context<AppEnv>) => lookupKeyInKv(c.env.API_KEYS, hash);
  app.use('/v1/*', apiKeyAuth({ lookup: keyCacheMs > 0 ? cachedLookup(lookup, keyCacheMs) : lookup }));
  app.use('/v1/*', rateLimit({ tiers: (c) => c.get('config').rateLimiters }));

  app.get('/v1/models', listModels);
  const checks = [keyPolicy(), routingBounds({ models: modelsFor })] as const;
  const maxBytes = (c: Parameters<typeof listModels>[0]) => c.get('config').MAX_BODY_BYTES;
  app.post('/v1/chat/completions', openaiBody({ schema: ChatCompletionRequestSchema, maxBytes }), ...checks, forward('/v1/chat/completions'));
  app.post('/v1/completions', openaiBody({ schema: CompletionRequestSchema, maxBytes }), ...checks, forward('/v1/completions'));
  return app;
}
