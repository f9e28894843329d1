import type { GraphScope } from '../onnx/index.ts';
import { makeSwiGlu } from './norm.ts';
import type { Linear } from './weights.ts';

/**
 * The sparse MoE block, CPU formulation: one `If` per expert, so an expert no token selected
 * costs only its condition check (ort-notes: ~10 us), and compute falls with experts per token.
 *
 *   selected [N,E] -> Cast f32 -> ReduceMax(axis 0) -> > 0 -> Split -> any_e [1] bool (If condition)
 *   selected, weights [N,E] -> Split(axis 1) -> sel_e, w_e [N,1]
 *
 *   sum_0 = shared expert output [N,H]
 *   sum_e+1 = If(any_e,
 *     then: (expert e's weights are this branch's initializers, so ORT prepacks them)
 *           idx = NonZero(sel_e) -> [M,1]; xs = GatherND(x, idx) [M,H]
 *           y = down(silu(gate xs) * up xs) * GatherND(w_e, idx)
 *           ScatterND(sum_e, idx, y, reduction=add)
 *     else: sum_e)
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

/** sigmoid(x . shared_expert_gate) * shared_expert(x). */
export function makeSharedExpert(scope: GraphScope, x: string, w: ExpertWeights, gate: Linear): string {
  const s = scope.withPrefix('shared_expert');
  const y = makeMlp(s, x, w);
  const g = scope.node('Sigmoid', [gate.apply(scope.withPrefix('shared_expert_gate'), x)], undefined, { name: 'shared_expert_gate/Sigmoid' });
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
  /**
   * Expert e's weights, declared in `scope` (the expert's then-branch). ORT prepacks MatMulNBits
   * weights only for initializers of the node's own graph; outer-scope ones were measured ~17x slower.
   */
  expert: (scope: GraphScope, e: number) => ExpertWeights;
}

export function makeSparseMoe(scope: GraphScope, inp: SparseMoeInputs): string {
  const E = inp.numExperts;
  const s = scope.withPrefix('experts');
  const selF = s.node('Cast', [inp.selected], { to: 1 }, { name: 'SelectedF32' });
  const anyRow = s.node('Greater', [s.node('ReduceMax', [selF], { axes: [0], keepdims: 0 }), s.constF32(0)], undefined, { name: 'AnyToken' });
  const anyE = E === 1 ? [anyRow] : s.node('Split', [anyRow], { axis: 0 }, { outputs: E, name: 'AnyTokenPerExpert' });
  const selCols = E === 1 ? [selF] : s.node('Split', [selF], { axis: 1 }, { outputs: E, name: 'SelectedPerExpert' });
  const wCols = E === 1 ? [inp.weights] : s.node('Split', [inp.weights], { axis: 1 }, { outputs: E, name: 'WeightPerExpert' });

  let sum = inp.base;
  for (let e = 0; e < E; e++) {
    const running = sum;
    const thenBranch = s.subgraph(`${e}/then`, (b) => {
      const idx = b.node('Transpose', [b.node('NonZero', [b.node('Squeeze', [selCols[e], b.constI64([1])])])], { perm: [1, 0] }, { name: 'TokenIndex' });
      const xs = b.node('GatherND', [inp.x, idx], undefined, { name: 'GatherTokens' });
      const y = makeMlp(b, xs, inp.expert(b, e));
      const scaled = b.node('Mul', [y, b.node('GatherND', [wCols[e], idx], undefined, { name: 'GatherWeights' })], undefined, { name: 'Weighted' });
      return b.node('ScatterND', [running, idx, scaled], { reduction: 'add' }, { name: 'Accumulate' });
    });
    const elseBranch = s.subgraph(`${e}/else`, () => running);
    sum = s.node('If', [anyE[e]], { then_branch: thenBranch, else_branch: elseBranch }, { name: `${e}/If` });
  }
  return sum;
}
