import type { ResolvedRouting } from '../../../shared/routing/resolve.ts';
import type { RoutingLimits } from '../../../shared/routing/schema.ts';
import type { RoutingIssue } from '../../../shared/routing/bounds.ts';

/** Last check of resolved router parameters before they reach the graph; null when fine. */
export function checkRouting(routing: ResolvedRouting, limits: RoutingLimits): RoutingIssue | null {
  if (!limits.strategies.includes(routing.strategy)) return { param: 'routing.strategy', message: `strategy '${routing.strategy}' is not supported by this model` };
  if (!Number.isInteger(routing.topK) || routing.topK < 1 || routing.topK > limits.max_top_k) return { param: 'routing.top_k', message: `top_k must be between 1 and ${limits.max_top_k}, got ${routing.topK}` };
  if (routing.minExperts < 1 || routing.minExperts > routing.topK) return { param: 'routing.min_experts', message: `min_experts must be between 1 and top_k (${routing.topK})` };
  for (const [param, v] of [['routing.lambda', routing.lambda], ['routing.tau', routing.tau]] as const) {
    if (!(v >= 0 && v <= 1)) return { param, message: `${param.slice(8)} must be between 0 and 1, got ${v}` };
  }
  if (routing.keyExpertMask.length !== limits.num_layers * limits.num_experts) return { param: 'routing.key_experts', message: 'key expert mask does not match the model shape' };
  return null;
}
