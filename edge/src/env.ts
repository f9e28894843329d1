import { z } from 'zod';
import type { RequestIdVariables } from 'hono/request-id';
import type { KeyRecord } from '../keys/record.ts';
import type { OpenAIBody } from '../middleware/openai-body/index.ts';

/** Rate-limit bindings are declared per tier in wrangler.toml: RATE_LIMIT_<requests per minute>. */
export const RATE_LIMIT_BINDING = /^RATE_LIMIT_(\d+)$/;

/** The Worker's bindings as wrangler declares them; everything else is read through `EdgeConfig`. */
export interface Bindings {
  API_KEYS: KVNamespace;
  BACKEND_SECRET: string;
  BACKEND_URLS: string;
  [name: string]: unknown;
}

export interface Variables extends RequestIdVariables {
  config: EdgeConfig;
  apiKey: KeyRecord;
  body: OpenAIBody;
  /** The client request's signal; with `enable_request_signal` it fires when the client disconnects. */
  clientSignal: AbortSignal;
}

export type AppEnv = { Bindings: Bindings; Variables: Variables };

const ms = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const EnvSchema = z.object({
  API_KEYS: z.custom<KVNamespace>((v) => typeof v === 'object' && v !== null && 'get' in v, 'API_KEYS must be a KV namespace binding'),
  BACKEND_SECRET: z.string().min(16, 'BACKEND_SECRET must be set (at least 16 characters): `wrangler secret put BACKEND_SECRET` or .dev.vars'),
  BACKEND_URLS: z
    .string()
    .transform((s) => s.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean))
    .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1, 'BACKEND_URLS must list at least one origin')),
  /** Request bodies above this are refused with 413 before parsing. */
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  /** Waiting for response headers of a streaming request; past it the next origin is tried, then 504. */
  CONNECT_TIMEOUT_MS: ms(10_000),
  /** Waiting for the first body byte (or, without streaming, for the whole answer's headers); then 504. */
  FIRST_BYTE_TIMEOUT_MS: ms(120_000),
  /** Silence before the first SSE `: keepalive` comment, and between them, while a long prefill runs. */
  KEEPALIVE_MS: ms(10_000),
  /** How long the backend's /v1/models answer is reused. */
  MODELS_CACHE_MS: ms(30_000),
});

export type EdgeConfig = Omit<z.infer<typeof EnvSchema>, 'API_KEYS'> & {
  /** Rate limiters by requests per minute, ascending. */
  rateLimiters: Array<{ rpm: number; limiter: RateLimit }>;
};

const parsed = new WeakMap<object, EdgeConfig>();

/**
 * Parses the Worker env once per env object and fails fast with one line naming the bad variable.
 * The env object is stable for an isolate, so this runs once, not per request.
 */
export function edgeConfig(env: Bindings): EdgeConfig {
  const hit = parsed.get(env);
  if (hit) return hit;
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`edge misconfigured: ${issue.path.join('.') || 'env'}: ${issue.message}`);
  }
  const rateLimiters = Object.entries(env)
    .map(([name, value]) => ({ match: RATE_LIMIT_BINDING.exec(name), value }))
    .filter(({ match, value }) => match && typeof (value as RateLimit)?.limit === 'function')
    .map(({ match, value }) => ({ rpm: Number(match![1]), limiter: value as RateLimit }))
    .sort((a, b) => a.rpm - b.rpm);
  const { API_KEYS: _kv, ...rest } = result.data;
  const config = { ...rest, rateLimiters };
  parsed.set(env, config);
  return config;
}
