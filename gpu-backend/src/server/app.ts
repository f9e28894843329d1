import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import type { Logger } from 'pino';
import { ApiError } from '../../../shared/openai/errors.ts';
import { notFound, onError } from './errors.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';
import { accessLog } from './middleware/access-log.ts';
import { refuseWhenUnavailable } from './middleware/draining.ts';
import { verifySignature } from './middleware/signature.ts';
import { completionHandler } from './routes/completions.ts';
import { probeRoutes } from './routes/system.ts';
import type { AppEnv } from './types.ts';

export interface AppDeps {
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  secret: string;
  modelDir: string;
  defaultMaxTokens: number;
  maxBodyBytes: number;
  /** Unix seconds, for the signature window; tests inject a clock. */
  now?: () => number;
}

/**
 * The backend's HTTP surface. Only /health and /ready are open; everything else must carry the
 * edge's HMAC signature, because the edge is the only client and the authenticator of users.
 */
export function createApp(deps: AppDeps) {
  const { lifecycle, metrics } = deps;
  const app = new Hono<AppEnv>();
  app.onError(onError);
  app.notFound(notFound);
  app.use(requestId({ headerName: 'x-request-id' }));
  app.use(accessLog({ logger: deps.logger, metrics }));
  app.route('/', probeRoutes(lifecycle));

  const signed = verifySignature({ secret: deps.secret, now: deps.now });
  app.use('/v1/*', bodyLimit({ maxSize: deps.maxBodyBytes, onError: () => { throw new ApiError(413, `Request body larger than ${deps.maxBodyBytes} bytes`); } }));
  app.use('/v1/*', signed);
  app.get('/metrics', signed, async (c) => c.text(await metrics.render(), 200, { 'Content-Type': metrics.registry.contentType }));

  app.use('/v1/*', refuseWhenUnavailable({ lifecycle }));
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [lifecycle.engine!.modelInfo()] }));
  const completionDeps = { lifecycle, metrics, modelDir: deps.modelDir, defaultMaxTokens: deps.defaultMaxTokens };
  app.post('/v1/chat/completions', completionHandler('chat', completionDeps));
  app.post('/v1/completions', completionHandler('completion', completionDeps));
  return app;
}

/** The unsigned metrics-only app for METRICS_PORT (a scraper on a private network). */
export function createMetricsApp(metrics: Metrics) {
  return new Hono().get('/metrics', async (c) => c.text(await metrics.render(), 200, { 'Content-Type': metrics.registry.contentType }));
}
