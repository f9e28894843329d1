import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { AppEnv } from '../types.ts';

const KNOWN_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/models', '/health', '/ready', '/metrics']);

/**
 * Binds a pino child logger to the request id (set by hono's requestId middleware from the edge's
 * x-request-id), logs one line per request, and counts it by route and status. For a stream the
 * status is the one sent with the headers; how it ended is in the cancellation counter.
 */
export function accessLog({ logger, metrics }: { logger: Logger; metrics: Metrics }): MiddlewareHandler<AppEnv> {
  return async function accessLog(c, next) {
    const started = performance.now();
    const log = logger.child({ requestId: c.get('requestId') });
    c.set('log', log);
    await next();
    // Unknown paths share one label so a scanner cannot blow up the series count.
    const route = KNOWN_ROUTES.has(c.req.path) ? c.req.path : 'other';
    metrics.requests.inc({ route, status: String(c.res.status) });
    log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  };
}
