import type { GraphBuilder } from '../model/onnx/index.ts';
import type { EmitRouter } from '../model/qwen2moe/decoder-layer.ts';
import type { RoutingStrategy } from '../../../shared/routing/schema.ts';

/**
 * Wires the router kernel (gpu-backend/src/model/router) into the graph.
 * TEMPORARY until the Pick & Ban kernel lands: a plain top-k router reading route_top_k, so the
 * rest of the graph can be built and tested. Replace with makeRouterParams/makeRouter.
 */

export const SUPPORTED_STRATEGIES: readonly RoutingStrategy[] = ['top_k'];

export interface RouterOptions {
  numLayers: number;
  numExperts: number;
  maxTopK: number;
}

export function routerFor(opts: RouterOptions): (g: GraphBuilder) => EmitRouter {
  return (g) => {
    const topK = g.input('route_top_k', 'int32', ['batch']);
    const s = g.withPrefix('/model/router_params');
    // Row k for every token: [B] -> [B,S] -> [N,1].
    const perToken = s.node('Reshape', [s.node('Expand', [s.node('Unsqueeze', [topK, s.constI64([1])]), s.node('Shape', ['input_ids'])]), s.constI64([-1, 1])]);
    const kMinus1 = s.node('Cast', [s.node('Sub', [perToken, s.constI32(1)])], { to: 7 });
    const renorm = g.input('route_renormalize', 'bool', ['batch']);
    const renormPerToken = s.node('Reshape', [s.node('Expand', [s.node('Unsqueeze', [renorm, s.constI64([1])]), s.node('Shape', ['input_ids'])]), s.constI64([-1, 1])]);
    return (scope, _layer, logits) => {
      const p = scope.node('Softmax', [logits], { axis: -1 });
      const [vals] = scope.node('TopK', [p, scope.constI64([opts.maxTopK])], { axis: -1 }, { outputs: 2 });
      const kth = scope.node('GatherElements', [vals, kMinus1], { axis: 1 });
      const selected = scope.node('GreaterOrEqual', [p, kth]);
      const masked = scope.node('Mul', [p, scope.node('Cast', [selected], { to: 1 })]);
      const mass = scope.node('ReduceSum', [masked, scope.constI64([1])], { keepdims: 1 });
      const weights = scope.node('Where', [renormPerToken, scope.node('Div', [masked, mass]), masked]);
      return { selected, weights };
    };
  };
}
