import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.ts';
import type { Listener } from './listen.ts';

export interface ShutdownOptions {
  lifecycle: Lifecycle;
  listeners: Listener[];
  graceMs: number;
  logger: Logger;
}

/**
 * SIGTERM: stop taking work (503 on /v1/*, /ready goes 503 so the edge drops this backend), let
 * in-flight generations finish within the grace period, then the engine aborts the rest and each
 * stream ends with an in-band error event. Only then close the listeners.
 */
export async function gracefulShutdown({ lifecycle, listeners, graceMs, logger }: ShutdownOptions): Promise<void> {
  if (lifecycle.draining) return;
  lifecycle.drain();
  const engine = lifecycle.engine;
  logger.info({ graceMs, running: engine?.snapshot().running ?? 0, queued: engine?.snapshot().queued ?? 0 }, 'draining');
  await engine?.shutdown(graceMs);
  // The streams' last events are written asynchronously after the engine settles; give them a beat.
  await Promise.all(listeners.map((l) => l.close(1_000)));
  logger.info({}, 'stopped');
}
