import type { ResolvedRouting } from '../../../shared/routing/resolve.ts';
import type { RoutingLimits } from '../../../shared/routing/schema.ts';
import { assertResolvedRouting, RouterParamError } from '../model/router/index.ts';
import { AdmissionError } from './types.ts';

/**
 * Checks a request's resolved router parameters before it is queued, so a bad row is a 400 for that
 * request rather than a failed step for the whole batch. The ranges are the router kernel's own
 * (model/router/validate.ts); whether this graph supports the strategy is the manifest's.
 */
export function checkRouting(routing: ResolvedRouting, limits: RoutingLimits): void {
  if (!limits.strategies.includes(routing.strategy)) {
    throw new AdmissionError(`strategy '${routing.strategy}' is not supported by this model (supported: ${limits.strategies.join(', ')})`, 400, 'routing.strategy');
  }
  try {
    assertResolvedRouting(routing, { numLayers: limits.num_layers, numExperts: limits.num_experts, maxTopK: limits.max_top_k });
  } catch (err) {
    if (!(err instanceof RouterParamError)) throw err;
    throw new AdmissionError(err.message.replace(/^batch row \d+: /, ''), 400, err.param);
  }
}
