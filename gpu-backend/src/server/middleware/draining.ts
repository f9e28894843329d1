import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../../../shared/openai/errors.ts';
import type { Lifecycle } from '../lifecycle.ts';

/**
 * Refuses new work with 503 once SIGTERM began a drain or while the model is still loading.
 * Retry-After tells the edge to try another backend; in-flight streams are not touched here.
 */
export function refuseWhenUnavailable({ lifecycle }: { lifecycle: Lifecycle }): MiddlewareHandler {
  return async function refuseWhenUnavailable(c, next) {
    if (lifecycle.draining) {
      c.header('Connection', 'close');
      throw new ApiError(503, 'The backend is shutting down; retry on another backend', null, 'shutting_down', { 'Retry-After': '1' });
    }
    if (!lifecycle.ready) throw new ApiError(503, 'The model is still loading', null, 'model_loading', { 'Retry-After': '5' });
    await next();
  };
}
