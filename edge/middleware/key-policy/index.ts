import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../../shared/openai/index.ts';
import type { KeyRecord } from '../../keys/record.ts';
import type { AppEnv } from '../../src/env.ts';
import type { OpenAIBody } from '../openai-body/index.ts';

const forbid = (message: string, param: string, code: string) => new ApiError(403, message, param, code);

export const modelAllowed = (key: KeyRecord, model: string) => key.models.includes('*') || key.models.includes(model);

/** The first thing this key may not ask for, or null. */
export function policyViolation(key: KeyRecord, body: OpenAIBody): ApiError | null {
  const req = body.request;
  if (!modelAllowed(key, req.model)) {
    return forbid(`This API key may not use model '${req.model}'.`, 'model', 'model_not_allowed');
  }
  for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
    const asked = (req as Record<string, unknown>)[field];
    if (typeof asked === 'number' && asked > key.max_tokens) {
      return forbid(`${field} ${asked} exceeds this API key's limit of ${key.max_tokens} tokens per request.`, field, 'max_tokens_exceeded');
    }
  }
  const routing = req.routing;
  // Only an explicit strategy is checked: a profile brings its own, which the key's profile access covers.
  if (routing?.strategy && !key.routing.strategies.includes(routing.strategy)) {
    return forbid(`This API key may not use routing strategy '${routing.strategy}' (allowed: ${key.routing.strategies.join(', ') || 'none'}).`, 'routing.strategy', 'routing_not_allowed');
  }
  if (routing?.key_experts && !key.routing.raw_key_experts) {
    return forbid('This API key may not send raw routing.key_experts; use a named routing.profile.', 'routing.key_experts', 'routing_not_allowed');
  }
  return null;
}

/**
 * Enforces what a key may ask for (403 naming the refused field). A request without a token limit
 * is left as is: the key's cap travels as a header (see forward.ts) and bounds the backend's default,
 * since writing the cap into max_tokens would exceed small models' context.
 */
export function keyPolicy(): MiddlewareHandler<AppEnv> {
  return async function keyPolicy(c, next) {
    const key = c.get('apiKey');
    const body = c.get('body');
    const violation = policyViolation(key, body);
    if (violation) throw violation;
    await next();
  };
}
