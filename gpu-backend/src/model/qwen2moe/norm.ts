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

/**
 * The residual stream between blocks: its value is `sum` + `add`, where `add` (a block's output)
 * may still be pending so the next norm can fuse the addition.
 */
export interface ResidualStream {
  sum: string;
  add?: string;
}

/**
 * RMSNorm of the residual stream; returns the normed value and the stream materialized. `fused`
 * adds the pending block output inside com.microsoft SkipSimplifiedLayerNormalization (one node
 * instead of Add + norm: on a GPU every node is a dispatch); otherwise a plain Add named `addName`.
 */
export function makeResidualNorm(
  scope: GraphScope, stream: ResidualStream, weight: string, eps: number, fused: boolean, add: { scope: GraphScope; name: string },
): { normed: string; residual: string } {
  if (!stream.add) return { normed: makeRmsNorm(scope, stream.sum, weight, eps), residual: stream.sum };
  if (!fused) {
    const residual = add.scope.node('Add', [stream.sum, stream.add], undefined, { name: add.name });
    return { normed: makeRmsNorm(scope, residual, weight, eps), residual };
  }
  const name = `${scope.prefix}/SkipRMSNorm`;
  const [normed, , , residual] = scope.node('SkipSimplifiedLayerNormalization', [stream.sum, stream.add, weight], { epsilon: float(eps) }, {
    domain: 'com.microsoft', name: 'SkipRMSNorm', outputs: [`${name}/output_0`, '', '', `${name}/output_3`],
  });
  return { normed, residual };
}
