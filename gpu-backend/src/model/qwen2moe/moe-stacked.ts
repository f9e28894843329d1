import type { Architecture } from '../contract.ts';
import { ONNX_DTYPE_CODE, type GraphScope } from '../onnx/index.ts';
import { layerNames } from '../../checkpoint/tensor-names.ts';
import type { ModelWeights, QmoeWeights } from './weights.ts';

/**
 * The MoE block as a few large nodes over all experts at once, for GPU execution providers, where
 * the CPU's `If` per expert would read every condition back to the host (ort-notes). Both take the
 * router kernel's [N,E] selection and weights, so every strategy works in both, row by row.
 *
 * qmoe (small batches): ORT's QMoE. It takes its own top-k of `router_probs` and a softmax over
 * those k, so the kernel's choice is handed over as logits:
 *   r = log(max(w, 1e-30)): an unselected expert (w = 0) gets -69, below every selected one, and a
 *   relative weight of ~1e-30 when a row selects fewer than k (two nodes fewer than masking to -65504)
 *   softmax over the top k of r = w / Σw over the selected; times Σw gives w back
 * (Qwen1.5-MoE has norm_topk_prob=false; renormalized rows have Σw = 1). It computes a fixed k =
 * maxTopK experts per token on WebGPU: Ban saves nothing there.
 *
 * dense (large batches): gate/up of all E experts in one matmul [N,H]x[H,E*2I] (rows interleaved
 * gate_i, up_i per expert, the layout QMoE's swiglu_fusion=1 reads, so the bytes are shared) and
 * SwiGLU. With 4- or 8-bit weights, each row then keeps the hidden states of its K = maxTopK slots
 * (the experts of its K largest weights) times their weights, and one down matmul [N*K,I]x[I,E*H]
 * computes every expert's down projection of every slot (QMoE's fc2 bytes again); each slot keeps
 * its own expert's and the K are summed (slotsDown). That is E times the needed down FLOPs, but with
 * N*K rows against E*H outputs the GEMM has tiles for every SM: the one [N,E*I]x[E*I,H] product it
 * replaces (2048 outputs, a few dozen tiles each walking K = E*I) ran at ~10 TFLOP/s on an H100 at
 * 256 rows. fp16 and fp32 weights keep that one product (everyExpertDown).
 */

/** log() floor: what an unselected expert's logit becomes (-69, exact enough in fp16). */
const MIN_WEIGHT = 1e-30;

export type StackedMoe = 'qmoe' | 'dense';

export interface StackedMoeInputs {
  arch: Architecture;
  layer: number;
  weights: ModelWeights;
  /** Normalized hidden states [N,H] in the stream's type. */
  x: string;
  /** The router kernel's gate weights [N,E] fp32 (0 where not selected). */
  routeWeights: string;
  /** [N,H] the experts' sum is added to (the gated shared expert). */
  base: string;
  /** QMoE's k: the largest top_k a request may use. */
  maxTopK: number;
}

/** gate_proj and up_proj of every expert, rows interleaved: [E*2I, H]. */
function gateUpRows(w: ModelWeights, arch: Architecture, layer: number): () => Float32Array {
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const n = layerNames(layer);
  return () => {
    const out = new Float32Array(E * 2 * I * H);
    for (let e = 0; e < E; e++) {
      const gate = w.read(n.expert(e, 'gate_proj'));
      const up = w.read(n.expert(e, 'up_proj'));
      for (let i = 0; i < I; i++) {
        out.set(gate.subarray(i * H, (i + 1) * H), ((e * I + i) * 2) * H);
        out.set(up.subarray(i * H, (i + 1) * H), ((e * I + i) * 2 + 1) * H);
      }
    }
    return out;
  };
}

const GATE_UP_KEY = (layer: number) => `model.layers.${layer}.mlp.experts.gate_up.stacked`;

/** down_proj of every expert stacked: [E*H, I]. */
function downRows(w: ModelWeights, arch: Architecture, layer: number): () => Float32Array {
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const n = layerNames(layer);
  return () => {
    const out = new Float32Array(E * H * I);
    for (let e = 0; e < E; e++) out.set(w.read(n.expert(e, 'down_proj')), e * H * I);
    return out;
  };
}

const DOWN_KEY = (layer: number) => `model.layers.${layer}.mlp.experts.down.stacked`;

/** Every expert's weights as QMoE's fc1 (gate/up interleaved) and fc2 (down) over the shared stored bytes. */
function qmoeExperts(s: GraphScope, inp: Pick<StackedMoeInputs, 'arch' | 'layer' | 'weights'>): { fc1: QmoeWeights; fc2: QmoeWeights } {
  const { arch, layer, weights } = inp;
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const fc1 = weights.qmoe(s, GATE_UP_KEY(layer), [E * 2 * I, H], E, gateUpRows(weights, arch, layer));
  const fc2 = weights.qmoe(s, DOWN_KEY(layer), [E * H, I], E, downRows(weights, arch, layer));
  if (!fc1 || !fc2) throw new Error('the qmoe formulation needs int4 or int8 expert weights');
  return { fc1, fc2 };
}

type Act = ModelWeights['activations'];

/** `v` (of type `from`) as `to`: a Cast only where they differ. */
export function castTo(s: GraphScope, v: string, from: Act, to: Act, name: string): string {
  return from === to ? v : s.node('Cast', [v], { to: ONNX_DTYPE_CODE[to] }, { name });
}

/** QMoE's inputs in the type its scales fix (fp16 on WebGPU, fp32 on the CPU). */
interface QmoeCall {
  s: GraphScope;
  fc1: QmoeWeights;
  fc2: QmoeWeights;
  /** QMoE's type, and the stream's. */
  type: Act;
  act: Act;
  x: string;
  logits: string;
}

/** `logits` are of type `logitsType` (the router kernel's weights are fp32, the raw logits the stream's). */
function prepareQmoe(s: GraphScope, inp: Pick<StackedMoeInputs, 'arch' | 'layer' | 'weights' | 'x'>, logits: string, logitsType: Act): QmoeCall {
  const { fc1, fc2 } = qmoeExperts(s, inp);
  const type = fc1.scaleType;
  const act = inp.weights.activations;
  return { s, fc1, fc2, type, act, x: castTo(s, inp.x, act, type, 'InputToHalf'), logits: castTo(s, logits, logitsType, type, 'LogitsToHalf') };
}

/** base + QMoE(x, logits) in the stream's type, times `mass` (of the stream's type) per token where the weights must not stay normalized. */
function runQmoe(c: QmoeCall, k: number, mass: string | null, base: string): string {
  const { s, fc1, fc2 } = c;
  const y = s.node('QMoE', [c.x, c.logits, fc1.weights, fc1.scales, '', fc2.weights, fc2.scales], {
    k, activation_type: 'swiglu', swiglu_fusion: 1, expert_weight_bits: fc1.bits, block_size: fc1.blockSize, normalize_routing_weights: 0,
  }, { domain: 'com.microsoft', name: 'QMoE' });
  const yA = castTo(s, y, c.type, c.act, 'OutputToFloat');
  const routed = mass ? s.node('Mul', [yA, mass], undefined, { name: 'Unnormalize' }) : yA;
  return s.node('Add', [base, routed], undefined, { name: 'PlusShared' });
}

export interface TopKQmoeInputs extends Pick<StackedMoeInputs, 'arch' | 'layer' | 'weights' | 'x' | 'base'> {
  /** Router logits [N,E] in the stream's type. */
  logits: string;
  /** Experts per token: the model's num_experts_per_tok. */
  k: number;
}

/**
 * Plain top-k routing inside QMoE, with no router kernel: for a graph that only serves batches where
 * every row routes top_k at the model's k. QMoE takes the top k of the logits it is given and a
 * softmax over them, p_i / Σ_topk p; with norm_topk_prob=false (Qwen1.5-MoE) the weight is p_i, so
 * the output is scaled by the top-k mass, the sum of the k largest probabilities. Returns the logits
 * QMoE compared: the layer's routing statistics come from them, all layers at once (topKSelection),
 * since on WebGPU every node of a decode step costs host time, and these would be 4 per layer.
 */
export function makeTopKQmoe(scope: GraphScope, inp: TopKQmoeInputs): { out: string; routed: string } {
  const s = scope.withPrefix('qmoe');
  const q = prepareQmoe(s, inp, inp.logits, inp.weights.activations);
  let mass: string | null = null;
  if (!inp.arch.normTopkProb) {
    const p = s.node('Softmax', [inp.logits], { axis: -1 }, { name: 'RouterProbs' });
    const [topP] = s.node('TopK', [p, s.constI64([inp.k])], { axis: -1, largest: 1, sorted: 0 }, { outputs: 2, name: 'TopKProbs' });
    mass = s.node('ReduceSum', [topP, s.constI64([1])], { keepdims: 1 }, { name: 'TopKMass' });
  }
  return { out: runQmoe(q, inp.k, mass, inp.base), routed: q.logits };
}

/**
 * The selection mask of top-k routing over `logits` [..., E]: 1 at or above the k-th largest, as
 * `type`. It stays a float mask on the device: TopK's int64 ids, concatenated for the
 * host, cost a device-to-host copy per layer (ORT placed that Concat on the CPU; 40 ms per step on an H100).
 */
export function topKSelection(s: GraphScope, logits: string, k: number, type: Act): string {
  const [top] = s.node('TopK', [logits, s.constI64([k])], { axis: -1, largest: 1, sorted: 1 }, { outputs: 2, name: 'TopK' });
  const kth = s.node('ReduceMin', [top], { axes: [-1], keepdims: 1 }, { name: 'KthLogit' });
  return s.node('Cast', [s.node('GreaterOrEqual', [logits, kth])], { to: ONNX_DTYPE_CODE[type] }, { name: 'Selected' });
}

export function makeStackedMoe(scope: GraphScope, kind: StackedMoe, inp: StackedMoeInputs): string {
  const { arch, layer, weights } = inp;
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const s = scope.withPrefix(kind === 'qmoe' ? 'qmoe' : 'dense_experts');

  if (kind === 'qmoe') {
    // Unselected experts (weight 0) get log(MIN_WEIGHT), far below any selected one's.
    const logits = s.node('Log', [s.node('Max', [inp.routeWeights, s.constF32(MIN_WEIGHT)])], undefined, { name: 'SelectedLogits' });
    const mass = s.node('ReduceSum', [inp.routeWeights, s.constI64([1])], { keepdims: 1 }, { name: 'SelectedMass' });
    const act = weights.activations;
    return runQmoe(prepareQmoe(s, inp, logits, 'float32'), inp.maxTopK, castTo(s, mass, 'float32', act, 'MassToHalf'), inp.base);
  }

  // In the stream's type: fp16 on GPUs, where these products run as MatMulNBits' subgroup-matrix kernel.
  const gateUp = weights.assembled(s, GATE_UP_KEY(layer), [E * 2 * I, H], gateUpRows(weights, arch, layer), { experts: true });
  const gu = s.node('Reshape', [gateUp.apply(s.withPrefix('gate_up'), inp.x), s.constI64([0, E, I, 2])], undefined, { name: 'PerExpert' });
  const [g, u] = s.node('Split', [gu, s.constI64([1, 1])], { axis: 3 }, { outputs: 2, name: 'GateUp' });
  const swiglu = s.node('Mul', [s.node('Mul', [g, s.node('Sigmoid', [g])], undefined, { name: 'SiLU' }), u], undefined, { name: 'GateTimesUp' });
  const down = weights.quantized ? slotsDown(s, inp, swiglu) : everyExpertDown(s, inp, swiglu);
  return s.node('Add', [inp.base, down], undefined, { name: 'PlusShared' });
}

/**
 * The down projection per slot (4- and 8-bit weights). Each row's K slots are the experts of its K
 * largest weights (a banned slot has weight 0). Top-k along axis 1 of [N,E,1] gives ids [N,K,1],
 * what GatherND reads, with no int64 op between (WebGPU runs none: the op would go to the CPU and
 * the step would wait on a copy per layer).
 */
function slotsDown(s: GraphScope, inp: StackedMoeInputs, swiglu: string): string {
  const { arch, layer, weights, maxTopK: K } = inp;
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const column = s.node('Reshape', [inp.routeWeights, s.constI64([0, E, 1])], undefined, { name: 'WeightColumn' });
  const [slotWeights, slotIds] = s.node('TopK', [column, s.constI64([K])], { axis: 1, largest: 1, sorted: 0 }, { outputs: 2, name: 'Slots' });
  const hidden = s.node('GatherND', [s.node('Reshape', [swiglu, s.constI64([0, E, I])], undefined, { name: 'Hidden' }), slotIds], { batch_dims: 1 }, { name: 'SlotHidden' });
  const weighted = s.node('Mul', [hidden, castTo(s, slotWeights, 'float32', weights.activations, 'SlotWeightsToHalf')], undefined, { name: 'WeightedSlots' });
  const down = weights.assembled(s, DOWN_KEY(layer), [E * H, I], downRows(weights, arch, layer), { experts: true });
  const everyExpert = down.apply(s.withPrefix('down'), s.node('Reshape', [weighted, s.constI64([-1, I])], undefined, { name: 'SlotRows' }));
  const own = s.node('GatherND', [s.node('Reshape', [everyExpert, s.constI64([-1, K, E, H])], undefined, { name: 'PerSlot' }), slotIds], { batch_dims: 2 }, { name: 'OwnExpert' });
  return s.node('ReduceSum', [own, s.constI64([1])], { keepdims: 0 }, { name: 'SumSlots' });
}

/**
 * The down projection of every expert in one product (fp16 and fp32 weights): [N,E*I]x[E*I,H] over
 * the hidden states times each expert's weight (0 when not selected). Per slot, the tiny test
 * model's fp16-weights graph moved one ban_and_pick row's logits by 2.4% against the CPU graph (the
 * int4 graph by 0.1%), so plain weights keep this one accumulation.
 */
function everyExpertDown(s: GraphScope, inp: StackedMoeInputs, swiglu: string): string {
  const { arch, layer, weights } = inp;
  const { numExperts: E, moeIntermediateSize: I, hiddenSize: H } = arch;
  const n = layerNames(layer);
  const w = s.node('Reshape', [castTo(s, inp.routeWeights, 'float32', weights.activations, 'WeightsToHalf'), s.constI64([0, E, 1, 1])], undefined, { name: 'WeightPerExpert' });
  const weighted = s.node('Reshape', [s.node('Mul', [swiglu, w], undefined, { name: 'Weighted' }), s.constI64([0, E * I])], undefined, { name: 'Flatten' });
  // down_proj of every expert side by side: [H, E*I].
  const down = weights.assembled(s, `model.layers.${layer}.mlp.experts.down.dense`, [H, E * I], () => {
    const out = new Float32Array(H * E * I);
    for (let e = 0; e < E; e++) {
      const d = weights.read(n.expert(e, 'down_proj'));
      for (let h = 0; h < H; h++) out.set(d.subarray(h * I, (h + 1) * I), (h * E + e) * I);
    }
    return out;
  });
  return down.apply(s.withPrefix('down'), weighted);
}
