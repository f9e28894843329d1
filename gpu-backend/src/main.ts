/**
 * The GPU backend's entry point: `node --import tsx gpu-backend/src/main.ts`.
 * Configuration comes from the environment (server/config.ts); a bad value stops here with one line.
 */
import { ConfigError, parseConfig, type Config } from './server/config.ts';
import { startBackend } from './server/start.ts';

let config: Config;
try {
  config = parseConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}

// Imported after the config check so a typo fails in milliseconds, not after loading onnxruntime.
const { createEngine } = await import('./engine/index.ts');
const backend = await startBackend(config, createEngine);
const { logger } = backend;

backend.engineReady.catch((err) => {
  logger.fatal({ err }, 'engine failed to load');
  process.exit(1);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // A second signal means "now": skip the grace period.
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    backend.shutdown().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
