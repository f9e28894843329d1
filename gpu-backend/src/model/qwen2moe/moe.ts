import type { GraphScope } from '../onnx/index.ts';
import { makeSwiGlu } from './norm.ts';
import type { Linear } from './weights.ts';

/**
 * The sparse MoE block, CPU formulation: one `If` per expert, so an expert no token selected
 * costs only its condition check and an empty output, and compute falls with experts per token.
 *
 *   selected [N,E] -> Cast f32 -> ReduceMax(axis 0) -> > 0 -> Split -> any_e [1] bool (If condition)
 *
 *   idx_e, y_e = If(any_e,
 *     then:
 *           idx = NonZero(selected[:, e]) -> [M,1]; xs = GatherND(x, idx) [M,H]
 *           y = down(silu(gate xs) * up xs) * GatherND(weights[:, e:e+1], idx) -> idx [M,1], y [M,H]
 *     else: empty [0,1], [0,H] constants)
 *   out = ScatterND(base, Concat(idx_0..), Concat(y_0..), reduction=add)    (once per layer)
 *
 * Skipped experts return empty tensors rather than passing a running [N,H] sum through, so they
 * copy nothing; the weighted outputs are summed into the shared expert's output in one scatter.
 */

export interface ExpertWeights {
  gate: Linear;
  up: Linear;
  down: Linear;
}

/** down(silu(gate x) * up x): the expert and shared-expert MLP. */
export function makeMlp(scope: GraphScope, x: string, w: ExpertWeights): string {
  const gate = w.gate.apply(scope.withPrefix('gate_proj'), x);
  const up = w.up.apply(scope.withPrefix('up_proj'), x);
  return w.down.apply(scope.withPrefix('down_proj'), makeSwiGlu(scope, gate, up));
}

/** sigmoid(gateLogit) * shared_expert(x); gateLogit [N,1] = x . shared_expert_gate (fused with the router). */
export function makeSharedExpert(scope: GraphScope, x: string, w: ExpertWeights, gateLogit: string): string {
  const s = scope.withPrefix('shared_expert');
  const y = makeMlp(s, x, w);
  const g = scope.node('Sigmoid', [gateLogit], undefined, { name: 'shared_expert_gate/Sigmoid' });
  return scope.node('Mul', [y, g], undefined, { name: 'shared_expert/Gated' });
}

export interface SparseMoeInputs {
  /** Normalized hidden states [N,H]. */
  x: string;
  /** Router outputs [N,E]: the selection mask (any numeric/bool type) and fp32 mixing weights. */
  selected: string;
  weights: string;
  /** Starting sum [N,H] the experts add into (the shared expert's output). */
  base: string;
  numExperts: number;
  hiddenSize: number;
  /** Expert e's weights; `scope` is its then-branch, for weights that belong inside it. */
  expert: (scope: GraphScope, e: number) => ExpertWeights;
  /**
   * Rows a skipped expert returns: 0 (empty tensors, the CPU default) or 1 (token 0 plus a zero row,
   * which adds nothing). WebGPU's Concat rejects zero-element inputs ("number of element of uniform
   * variable must be greater than 0", seen on an H100), so graphs for it use 1.
   */
  skippedExpertRows?: 0 | 1;
}

export function makeSparseMoe(scope: GraphScope, inp: SparseMoeInputs): string {
  const E = inp.numExperts;
  const s = scope.withPrefix('experts');
  const selF = s.node('Cast', [inp.selected], { to: 1 }, { name: 'SelectedF32' });
  const anyRow = s.node('Greater', [s.node('ReduceMax', [selF], { axes: [0], keepdims: 0 }), s.constF32(0)], undefined, { name: 'AnyToken' });
  const anyE = E === 1 ? [anyRow] : s.node('Split', [anyRow], { axis: 0 }, { outputs: E, name: 'AnyTokenPerExpert' });

  const H = inp.hiddenSize;
  const indices: string[] = [];
  const outputs: string[] = [];
  for (let e = 0; e < E; e++) {
    const thenBranch = s.subgraph(`${e}/then`, (b) => {
      // Column slices happen here, not as Splits outside: a 60-way Split costs ~100 us per layer even for skipped experts.
      const selCol = b.node('Gather', [selF, b.constI64(e)], { axis: 1 }, { name: 'SelectedColumn' });
      const idx = b.node('Transpose', [b.node('NonZero', [selCol])], { perm: [1, 0] }, { name: 'TokenIndex' });
      const wCol = b.node('Gather', [inp.weights, b.constI64([e])], { axis: 1 }, { name: 'WeightColumn' });
      const xs = b.node('GatherND', [inp.x, idx], undefined, { name: 'GatherTokens' });
      const y = makeMlp(b, xs, inp.expert(b, e));
      return [idx, b.node('Mul', [y, b.node('GatherND', [wCol, idx], undefined, { name: 'GatherWeights' })], undefined, { name: 'Weighted' })];
    });
    const rows = inp.skippedExpertRows ?? 0;
    const elseBranch = s.subgraph(`${e}/else`, (b) => [b.constant('int64', new Array(rows).fill(0), [rows, 1]), b.constant('float32', new Array(rows * H).fill(0), [rows, H])]);
    const [idx, y] = s.node('If', [anyE[e]], { then_branch: thenBranch, else_branch: elseBranch }, { name: `${e}/If`, outputs: 2 });
    indices.push(idx);
    outputs.push(y);
  }
  const allIdx = E === 1 ? indices[0] : s.node('Concat', indices, { axis: 0 }, { name: 'TokenIndices' });
  const allY = E === 1 ? outputs[0] : s.node('Concat', outputs, { axis: 0 }, { name: 'ExpertOutputs' });
  return s.node('ScatterND', [inp.base, allIdx, allY], { reduction: 'add' }, { name: 'Accumulate' });
}
