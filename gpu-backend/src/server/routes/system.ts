import { Hono } from 'hono';
import { errorBody } from '../../../../shared/openai/errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { AppEnv } from '../types.ts';

/** Unsigned probes for the orchestrator: liveness and readiness. They reveal nothing about the model. */
export function probeRoutes(lifecycle: Lifecycle) {
  return new Hono<AppEnv>()
    .get('/health', (c) => c.json({ status: 'ok' }))
    .get('/ready', (c) => {
      if (lifecycle.ready) return c.json({ status: 'ready' });
      const why = lifecycle.draining ? 'shutting down' : 'model loading';
      return c.json(errorBody(503, `Not ready: ${why}`, null, lifecycle.draining ? 'shutting_down' : 'model_loading'), 503);
    });
}
