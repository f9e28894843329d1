import type { Architecture } from '../contract.ts';
import type { GraphScope } from '../onnx/index.ts';
import { layerNames } from '../../checkpoint/tensor-names.ts';
import { makeAttention, type AttentionShapes } from './attention.ts';
import { makeGqaAttention, type GqaShapes } from './attention-gqa.ts';
import { makeSharedExpert, makeSparseMoe } from './moe.ts';
import { castTo, makeStackedMoe, makeTopKQmoe } from './moe-stacked.ts';
import { makeResidualNorm, makeRmsNorm, type ResidualStream } from './norm.ts';
import type { ModelWeights } from './weights.ts';

/**
 * One Qwen2MoE decoder layer over flattened tokens [N,H]:
 *
 *   h -> RMSNorm -> attention -> + h -> h'
 *   h' -> RMSNorm -> x -> x @ [router; shared_expert_gate]^T (one Gemm) -> router logits, shared gate logit
 *                     router logits -> router kernel -> selected, weights
 *                     x -> shared expert (sigmoid-gated) -> base
 *                     x, base -> routed experts (`moe`: If per expert, QMoE, or dense) -> + h' -> out
 *
 * With `fusedNorms` each residual Add rides in the next norm (SkipSimplifiedLayerNormalization), so
 * the layer hands its MoE output on as the stream's pending `add`. With a `top_k` router there is no
 * kernel: QMoE takes the top k of the logits itself (moe-stacked.ts, makeTopKQmoe).
 */

/** How the routed experts run: see moe.ts (sparse, CPU) and moe-stacked.ts (qmoe, dense; GPU). */
export type MoeFormulation = 'sparse' | 'qmoe' | 'dense';

export interface LayerOptions {
  moe: MoeFormulation;
  /** See SparseMoeInputs.skippedExpertRows. */
  skippedExpertRows: 0 | 1;
  maxTopK: number;
  /** Residual Adds fused into the norms (GPU graphs: fewer dispatches). */
  fusedNorms: boolean;
}

/** Emits the Pick & Ban router for one layer (gpu-backend/src/model/router). */
export type EmitRouter = (scope: GraphScope, layer: number, logits: string) => { selected: string; weights: string };

/**
 * How a layer routes: the Pick & Ban kernel (every strategy, per row), or plain top-k of the
 * logits inside QMoE, for a graph that only serves batches whose every row routes top_k at k.
 */
export type LayerRouter = { kind: 'kernel'; emit: EmitRouter } | { kind: 'top_k'; k: number };

export interface DecoderLayerOutputs {
  stream: ResidualStream;
  /**
   * What the layer's routing statistics come from: the kernel's selection [N, E] (fp32, 1 where
   * selected), or with a top_k router the logits QMoE took its top k of (the model derives the
   * masks of every layer at once: moe-stacked.ts, topKSelection).
   */
  routing: { selected: string } | { topKLogits: string };
}

export function makeDecoderLayer(
  g: GraphScope,
  arch: Architecture,
  layer: number,
  stream: ResidualStream,
  weights: ModelWeights,
  shapes: { kind: 'sdpa'; sdpa: AttentionShapes } | { kind: 'gqa'; gqa: GqaShapes },
  router: LayerRouter,
  opts: LayerOptions,
): DecoderLayerOutputs {
  const n = layerNames(layer);
  const s = g.withPrefix(`/model/layers.${layer}`);
  const { normed: attnIn, residual: hidden } = makeResidualNorm(
    s.withPrefix('input_layernorm'), stream, weights.vector(s, n.inputNorm), arch.rmsNormEps, opts.fusedNorms, { scope: s, name: 'input_residual' },
  );
  const attnScope = s.withPrefix('attn');
  const attn = shapes.kind === 'gqa'
    ? makeGqaAttention(attnScope, arch, layer, attnIn, weights, shapes.gqa)
    : makeAttention(attnScope, arch, layer, attnIn, {
        q: weights.linear(attnScope, n.q, n.qBias),
        k: weights.linear(attnScope, n.k, n.kBias),
        v: weights.linear(attnScope, n.v, n.vBias),
        o: weights.linear(attnScope, n.o),
      }, shapes.sdpa);
  const { normed: moeIn, residual: afterAttn } = makeResidualNorm(
    s.withPrefix('post_attention_layernorm'), { sum: hidden, add: attn }, weights.vector(s, n.postNorm), arch.rmsNormEps, opts.fusedNorms, { scope: s, name: 'attn_residual' },
  );
  const moe = s.withPrefix('moe');
  const E = arch.numExperts;
  const hasShared = arch.sharedExpertIntermediateSize > 0;
  // The router's weights stay fp32 in every weight format (its logits are in the stream's type; the
  // kernel reads them as fp32: its thresholds compare probabilities). The shared expert's gate rides
  // along as row E: one small GEMM instead of two (tiny dispatches are what a GPU decode step is made of).
  const gates = weights.assembled(moe, `model.layers.${layer}.mlp.gate+shared_expert_gate`, [hasShared ? E + 1 : E, arch.hiddenSize], () => {
    const gate = weights.read(n.router);
    if (!hasShared) return gate;
    const both = new Float32Array(gate.length + arch.hiddenSize);
    both.set(gate);
    both.set(weights.read(n.sharedGate), gate.length);
    return both;
  }, { float32: true }).apply(moe.withPrefix('router_and_shared_gate'), moeIn);
  const [logits, sharedGate] = hasShared
    ? moe.node('Split', [gates, moe.constI64([E, 1])], { axis: 1 }, { outputs: 2, name: 'router/Split' })
    : [gates, ''];
  // GPU graphs give the shared expert its own RMSNorm of the stream: ORT's WebGPU
  // MatMulNBitsMlpFusion folds a norm whose only readers are gate_proj and up_proj, with them and
  // SiLU, into one MatMulNBitsMlp node (4 dispatches fewer per layer; the CPU EP runs them as written).
  const sharedIn = hasShared && opts.fusedNorms
    ? makeRmsNorm(s.withPrefix('shared_expert_norm'), afterAttn, weights.vector(s, n.postNorm), arch.rmsNormEps)
    : moeIn;
  const shared = hasShared
    ? makeSharedExpert(moe, sharedIn, {
        gate: weights.linear(moe, n.shared('gate_proj')),
        up: weights.linear(moe, n.shared('up_proj')),
        down: weights.linear(moe, n.shared('down_proj')),
      }, sharedGate)
    : moe.node('Sub', [moeIn, moeIn], undefined, { name: 'zeros' });
  const done = (moeOut: string, routing: DecoderLayerOutputs['routing']): DecoderLayerOutputs => ({
    routing,
    stream: opts.fusedNorms ? { sum: afterAttn, add: moeOut } : { sum: s.node('Add', [afterAttn, moeOut], undefined, { name: 'moe_residual' }) },
  });
  if (router.kind === 'top_k') {
    if (opts.moe !== 'qmoe') throw new Error('a top_k router runs inside QMoE: it needs the qmoe formulation');
    const { out, routed } = makeTopKQmoe(moe, { arch, layer, weights, x: moeIn, logits, base: shared, k: router.k });
    return done(out, { topKLogits: routed });
  }
  const logits32 = castTo(moe, logits, weights.activations, 'float32', 'router/LogitsToFloat');
  const { selected, weights: routeWeights } = router.emit(moe.withPrefix('router'), layer, logits32);
  const moeOut = opts.moe !== 'sparse'
    ? makeStackedMoe(moe, opts.moe, { arch, layer, weights, x: moeIn, routeWeights, base: shared, maxTopK: opts.maxTopK })
    : makeSparseMoe(moe, {
        x: moeIn, selected, weights: routeWeights, base: shared, numExperts: E, hiddenSize: arch.hiddenSize, skippedExpertRows: opts.skippedExpertRows,
        // Expert weights are main-graph initializers that the branches read from the outer scope. ORT
        // prepacks them either way (measured: same ~0.3 ms per expert), but as branch initializers it
        // kept a second copy resident (+500 MB on two A2.7B-shaped layers).
        expert: (_branch, e) => ({
          gate: weights.linear(moe, n.expert(e, 'gate_proj')),
          up: weights.linear(moe, n.expert(e, 'up_proj')),
          down: weights.linear(moe, n.expert(e, 'down_proj')),
        }),
      });
  return done(moeOut, { selected });
}
