import { ROUTING_STRATEGIES, type RoutingStrategy } from '../../../shared/routing/schema.ts';
import type { GraphBuilder } from '../model/onnx/index.ts';
import type { EmitRouter } from '../model/qwen2moe/decoder-layer.ts';
import { makeRouter, makeRouterParams } from '../model/router/index.ts';

/**
 * Wires the Pick & Ban router kernel (gpu-backend/src/model/router) into the Qwen2MoE graph:
 * the route_* inputs are declared and expanded per token once, then each layer emits its kernel.
 */

export const SUPPORTED_STRATEGIES: readonly RoutingStrategy[] = ROUTING_STRATEGIES;

export interface RouterOptions {
  numLayers: number;
  numExperts: number;
  strategies?: readonly RoutingStrategy[];
}

export function routerFor(opts: RouterOptions): (g: GraphBuilder, tokens: string) => EmitRouter {
  return (g, tokens) => {
    const params = makeRouterParams(g, {
      tokens, numLayers: opts.numLayers, numExperts: opts.numExperts, strategies: opts.strategies ?? SUPPORTED_STRATEGIES,
    });
    return (scope, layer, logits) => {
      const { selected, weights } = makeRouter(g, { prefix: scope.prefix, layer, logits, params });
      return { selected, weights };
    };
  };
}
