import type { Context, MiddlewareHandler } from 'hono';
import { ApiError, type ModelList } from '../../../shared/openai/index.ts';
import { checkRoutingBounds } from '../../../shared/routing/index.ts';
import type { AppEnv } from '../../src/env.ts';

export interface RoutingBoundsOptions {
  models: (c: Context<AppEnv>) => Promise<ModelList>;
}

/**
 * Refuses, before anything is forwarded, a model the backend does not serve (404) and routing
 * outside the model's architecture (400 with the offending param), using the cached /v1/models.
 */
export function routingBounds({ models }: RoutingBoundsOptions): MiddlewareHandler<AppEnv> {
  return async function routingBounds(c, next) {
    const { request } = c.get('body');
    const model = (await models(c)).data.find((m) => m.id === request.model);
    if (!model) throw new ApiError(404, `The model '${request.model}' does not exist.`, 'model', 'model_not_found');
    if (request.routing) {
      const issue = checkRoutingBounds(request.routing, model.routing);
      if (issue) throw new ApiError(400, `Invalid '${issue.param}': ${issue.message}`, issue.param, 'invalid_routing');
    }
    await next();
  };
}
