import type { Routing, RoutingLimits } from './schema.ts';

export interface RoutingIssue {
  param: string;
  message: string;
}

/**
 * Checks a schema-valid `routing` object against one model's limits. Returns the first problem
 * (with the OpenAI `param` path) or null. Shared so the edge can refuse before forwarding.
 */
export function checkRoutingBounds(routing: Routing, limits: RoutingLimits): RoutingIssue | null {
  const strategy = routing.strategy ?? 'top_k';
  if (!limits.strategies.includes(strategy)) {
    return { param: 'routing.strategy', message: `strategy '${strategy}' is not supported by this model (supported: ${limits.strategies.join(', ')})` };
  }
  if (routing.top_k !== undefined && routing.top_k > limits.max_top_k) {
    return { param: 'routing.top_k', message: `top_k must be between 1 and ${limits.max_top_k} for this model, got ${routing.top_k}` };
  }
  const topK = routing.top_k ?? limits.default_top_k;
  if (routing.min_experts !== undefined && routing.min_experts > topK) {
    return { param: 'routing.min_experts', message: `min_experts (${routing.min_experts}) must not exceed top_k (${topK})` };
  }
  for (const [layer, ids] of Object.entries(routing.key_experts ?? {})) {
    if (layer !== '*' && Number(layer) >= limits.num_layers) {
      return { param: `routing.key_experts.${layer}`, message: `layer ${layer} is out of range: the model has ${limits.num_layers} layers (0-${limits.num_layers - 1})` };
    }
    const bad = ids.findIndex((id) => id >= limits.num_experts);
    if (bad >= 0) {
      return { param: `routing.key_experts.${layer}[${bad}]`, message: `expert id ${ids[bad]} is out of range: the model has ${limits.num_experts} experts (0-${limits.num_experts - 1})` };
    }
  }
  if (routing.profile !== undefined && !limits.profiles.includes(routing.profile)) {
    return { param: 'routing.profile', message: `unknown routing profile '${routing.profile}' (available: ${limits.profiles.join(', ') || 'none'})` };
  }
  if (routing.key_experts && (strategy === 'top_k' || strategy === 'ban')) {
    return { param: 'routing.key_experts', message: `key_experts has no effect with strategy '${strategy}'; use 'pick', 'pick_and_ban' or 'ban_and_pick'` };
  }
  return null;
}
