import { z } from 'zod';
import { EXECUTION_PROVIDERS } from '../model/contract.ts';
import type { EngineLimits } from '../engine/types.ts';

/**
 * The backend's whole configuration, read from process.env once at startup. Every knob has a
 * default except the two that must not be guessed: where the model is and the shared secret.
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ConfigSchema = z.object({
  MODEL_DIR: z.string({ error: 'is required: the folder holding manifest.json' }),
  EP: z.enum(EXECUTION_PROVIDERS, { error: `must be one of ${EXECUTION_PROVIDERS.join(', ')}` }).default('cpu'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(8080),
  // Unset: /metrics is served on PORT behind the edge signature. Set: an unsigned metrics-only
  // listener for a scraper on a private network, and /metrics on PORT still needs the signature.
  METRICS_PORT: int(0, 65535).optional(),
  // 32 bytes of randomness is what `npm start` generates; shorter secrets are brute-forceable.
  BACKEND_SECRET: z.string({ error: 'is required: the secret shared with the edge' }).min(16, 'must be at least 16 characters'),
  MAX_RUNNING_SEQS: int(1, 4096).default(32),
  MAX_QUEUED_SEQS: int(0, 1_000_000).default(128),
  MAX_KV_TOKENS: int(1).default(65_536),
  MAX_PREFILL_CHUNK: int(1).default(256),
  MAX_BATCH_TOKENS: int(1).default(512),
  /** Intra-op threads for the CPU EP; unset lets ORT choose. */
  INTRA_OP_THREADS: int(1, 1024).optional(),
  /** Greedy decode steps run back to back before the host reads their tokens; unset: 8 on GPU EPs, 1 on the CPU. */
  DECODE_WINDOW: int(1, 64).optional(),
  /** Completion length when the request gives neither max_tokens nor max_completion_tokens. */
  DEFAULT_MAX_TOKENS: int(1).default(256),
  MAX_BODY_BYTES: int(1024).default(1 << 20),
  SHUTDOWN_GRACE_MS: int(0).default(30_000),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});
export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError with one line naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset" in most deployment tools (`FOO=` in a compose file).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = ConfigSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue.path[0]);
  const given = cleaned[name];
  // Never echo the secret back into logs.
  const shown = given === undefined ? 'unset' : name === 'BACKEND_SECRET' ? 'a shorter value' : `'${given}'`;
  throw new ConfigError(`Invalid configuration: ${name}: ${issue.message} (got ${shown})`);
}

export function engineLimits(config: Config): EngineLimits {
  return {
    maxRunningSeqs: config.MAX_RUNNING_SEQS,
    maxQueuedSeqs: config.MAX_QUEUED_SEQS,
    maxKvTokens: config.MAX_KV_TOKENS,
    maxPrefillChunk: config.MAX_PREFILL_CHUNK,
    maxBatchTokens: config.MAX_BATCH_TOKENS,
  };
}
