import pino, { type Logger } from 'pino';
import type { CreateEngine, EngineSnapshot } from '../engine/types.ts';
import { createApp, createMetricsApp } from './app.ts';
import { engineLimits, type Config } from './config.ts';
import { Lifecycle } from './lifecycle.ts';
import { listen, type Listener } from './listen.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { gracefulShutdown } from './shutdown.ts';

export interface Backend {
  port: number;
  metricsPort?: number;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  /** Resolves when the engine is attached and ready; rejects if loading failed. */
  engineReady: Promise<void>;
  shutdown(): Promise<void>;
}

const IDLE: EngineSnapshot = { running: 0, queued: 0, lastBatchSize: 0, kvTokensUsed: 0, kvTokensCapacity: 0, expertsPerTokenByLayer: [], graphRuns: {}, hostReads: 0 };

/**
 * Listens first and loads the model after, so /health answers (and the container is "alive")
 * during a long model load while /ready stays 503 until the engine has warmed up.
 */
export async function startBackend(config: Config, createEngine: CreateEngine, logger: Logger = pino({ level: config.LOG_LEVEL })): Promise<Backend> {
  const lifecycle = new Lifecycle();
  const metrics = createMetrics(() => lifecycle.engine?.snapshot() ?? IDLE);
  const app = createApp({
    lifecycle,
    metrics,
    logger,
    secret: config.BACKEND_SECRET,
    modelDir: config.MODEL_DIR,
    defaultMaxTokens: config.DEFAULT_MAX_TOKENS,
    maxBodyBytes: config.MAX_BODY_BYTES,
  });
  const listeners: Listener[] = [await listen(app.fetch, config.HOST, config.PORT)];
  if (config.METRICS_PORT !== undefined) listeners.push(await listen(createMetricsApp(metrics).fetch, config.HOST, config.METRICS_PORT));
  logger.info({ host: config.HOST, port: listeners[0].port, metricsPort: listeners[1]?.port, ep: config.EP, modelDir: config.MODEL_DIR }, 'listening');

  const engineReady = createEngine({
    modelDir: config.MODEL_DIR,
    executionProvider: config.EP,
    limits: engineLimits(config),
    threads: config.INTRA_OP_THREADS,
    decodeWindow: config.DECODE_WINDOW,
    logger,
  }).then((engine) => {
    lifecycle.attach(engine);
    logger.info({ model: engine.modelInfo().id, ready: engine.ready }, 'engine attached');
  });

  return {
    port: listeners[0].port,
    metricsPort: listeners[1]?.port,
    lifecycle,
    metrics,
    logger,
    engineReady,
    shutdown: () => gracefulShutdown({ lifecycle, listeners, graceMs: config.SHUTDOWN_GRACE_MS, logger }),
  };
}
