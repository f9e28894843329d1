import { MAX_TOKENS_CAP_HEADER } from '../../../../shared/signing/index.ts';
import type { Context } from 'hono';
import { join } from 'node:path';
import { ApiError } from '../../../../shared/openai/errors.ts';
import type { Engine } from '../../engine/types.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { mapRequest, samplingDefaults, type Endpoint, type MappingContext } from '../mapping.ts';
import type { Metrics } from '../metrics.ts';
import { observeEvents } from '../observe.ts';
import { profileLoader } from '../profiles.ts';
import { collectEvents } from '../render/json.ts';
import { responseMeta } from '../render/objects.ts';
import { streamEvents } from '../render/sse.ts';
import type { AppEnv } from '../types.ts';

export interface CompletionDeps {
  lifecycle: Lifecycle;
  metrics: Metrics;
  modelDir: string;
  defaultMaxTokens: number;
}

/** Makes engine request ids unique within the process (see below). */
let sequence = 0;

/** POST /v1/chat/completions and /v1/completions: OpenAI body -> engine -> SSE or JSON. */
export function completionHandler(endpoint: Endpoint, deps: CompletionDeps) {
  const contexts = new WeakMap<Engine, MappingContext>();
  const mappingContext = (engine: Engine): MappingContext => {
    let ctx = contexts.get(engine);
    if (!ctx) {
      const info = engine.modelInfo();
      ctx = {
        modelId: info.id,
        limits: info.routing,
        contextLength: engine.manifest.architecture.maxPositionEmbeddings,
        defaultMaxTokens: deps.defaultMaxTokens,
        samplingDefaults: samplingDefaults(engine.manifest.generationDefaults),
        loadProfile: profileLoader(join(deps.modelDir, engine.manifest.profilesDir)),
      };
      contexts.set(engine, ctx);
    }
    return ctx;
  };

  return async function completion(c: Context<AppEnv>) {
    const startedAt = performance.now();
    // refuseWhenUnavailable ran before this handler, so the engine is attached and ready.
    const engine = deps.lifecycle.engine!;
    const body = await readJson(c);
    // The engine keys sequences by id; x-request-id comes from outside and may repeat (client-chosen,
    // retried), so the engine gets a per-process unique id that still starts with it for the logs.
    // The edge's key cap bounds only the default; a malformed header is ignored, not trusted.
    const cap = Number(c.req.header(MAX_TOKENS_CAP_HEADER));
    const mapped = await mapRequest(endpoint, body, mappingContext(engine), `${c.get('requestId')}#${++sequence}`, Number.isInteger(cap) && cap > 0 ? cap : undefined);

    // Client disconnect (node-server aborts the request signal) and shutdown both end the sequence.
    const abort = new AbortController();
    // Set only by the client going away; an abort by the engine during a drain is the shutdown's.
    let cancelReason: 'client' | null = null;
    const clientGone = () => {
      cancelReason = 'client';
      abort.abort();
    };
    c.req.raw.signal.addEventListener('abort', clientGone, { once: true });

    const raw = await engine.submit(mapped.generation, abort.signal);
    const events = observeEvents(raw, deps.metrics, startedAt, () => cancelReason ?? (deps.lifecycle.draining ? 'shutdown' : null), c.get('log'));
    const meta = responseMeta(endpoint, c.get('requestId'), mapped.model);
    if (!mapped.stream) {
      try {
        return c.json(await collectEvents(events, meta));
      } catch (err) {
        // Nobody is left to read an error; 499 (nginx's "client closed request") keeps the
        // request metrics from counting a disconnect as a server failure.
        if (cancelReason === 'client') return c.body(null, 499 as never);
        throw err;
      }
    }
    return streamEvents(c, events, meta, {
      includeUsage: mapped.includeUsage,
      onClientGone: clientGone,
      abortedByServer: () => cancelReason === null && deps.lifecycle.draining,
      onFailure: (err) => c.get('log').error({ err }, 'generation failed mid-stream'),
    });
  };
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'We could not parse the JSON body of your request: it must be a JSON object', null, 'invalid_json');
  }
}
