import { float, type GraphScope } from '../onnx/index.ts';

/**
 * RMSNorm, Qwen2's norm: x / sqrt(mean(x^2) + eps) * w, over the last axis, in fp32.
 * ORT's SimplifiedLayerNormalization (default domain, contrib kernel) is exactly this, in one node.
 */
export function makeRmsNorm(scope: GraphScope, x: string, weight: string, eps: number): string {
  return scope.node('SimplifiedLayerNormalization', [x, weight], { axis: -1, epsilon: float(eps), stash_type: 1 }, { name: 'RMSNorm' });
}

/** silu(gate) * up, the SwiGLU activation of every Qwen2MoE MLP. */
export function makeSwiGlu(scope: GraphScope, gate: string, up: string): string {
  const silu = scope.node('Mul', [gate, scope.node('Sigmoid', [gate])], undefined, { name: 'SiLU' });
  return scope.node('Mul', [silu, up], undefined, { name: 'GateTimesUp' });
}
