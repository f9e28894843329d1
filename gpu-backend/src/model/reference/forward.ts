import type { Architecture } from '../contract.ts';
import { embedName, finalNormName, layerNames, lmHeadName } from '../../checkpoint/tensor-names.ts';

/**
 * A plain, readable fp32 forward pass of Qwen2MoE for one sequence, following transformers'
 * modeling_qwen2_moe.py step by step. Tests compare the ONNX graph against it; nothing here is
 * fast, and loops over tokens, heads and experts are deliberate.
 */

/** Where the forward gets fp32 weights by checkpoint name (a Checkpoint, or a dequantizing wrapper). */
export interface WeightSource {
  readFloat32(name: string): Float32Array;
}

/** One token's routing at one layer: which experts run and their mixing weights (0 where unselected). */
export type RouteFn = (logits: Float32Array, layer: number) => { selected: ArrayLike<number>; weights: ArrayLike<number> };

export interface ReferenceOutput {
  /** [V] logits of the last position. */
  lastLogits: Float32Array;
  /** [S, L, E] 1 where the expert was selected. */
  expertMask: Uint8Array;
}

function linear(w: Float32Array, x: Float32Array, outDim: number, bias?: Float32Array): Float32Array {
  const inDim = x.length;
  const y = new Float32Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let acc = bias ? bias[o] : 0;
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) acc += w[row + i] * x[i];
    y[o] = acc;
  }
  return y;
}

function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]);
}

const silu = (v: number) => v / (1 + Math.exp(-v));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** SiLU-gated MLP: down(silu(gate x) * up x). */
function mlp(w: WeightSource, names: { gate: string; up: string; down: string }, x: Float32Array, inter: number): Float32Array {
  const g = linear(w.readFloat32(names.gate), x, inter);
  const u = linear(w.readFloat32(names.up), x, inter);
  return linear(w.readFloat32(names.down), g.map((v, i) => silu(v) * u[i]), x.length);
}

/** HF rotate-half RoPE on one head vector at one position, in place. */
function rope(v: Float32Array, offset: number, headDim: number, pos: number, theta: number): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    // transformers computes inv_freq and the angle in fp32.
    const invFreq = Math.fround(1 / Math.pow(theta, (2 * i) / headDim));
    const angle = Math.fround(pos * invFreq);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = v[offset + i];
    const b = v[offset + i + half];
    v[offset + i] = a * c - b * s;
    v[offset + i + half] = b * c + a * s;
  }
}

export function referenceForward(arch: Architecture, w: WeightSource, tokenIds: number[], route: RouteFn): ReferenceOutput {
  const { hiddenSize: H, numHeads, numKvHeads, headDim: D, numLayers: L, numExperts: E } = arch;
  const S = tokenIds.length;
  const group = numHeads / numKvHeads;
  const embed = w.readFloat32(embedName);
  let hidden = tokenIds.map((id) => embed.slice(id * H, (id + 1) * H));
  const expertMask = new Uint8Array(S * L * E);

  for (let l = 0; l < L; l++) {
    const n = layerNames(l);
    // Attention: every position attends causally to itself and the ones before.
    const normed = hidden.map((h) => rmsNorm(h, w.readFloat32(n.inputNorm), arch.rmsNormEps));
    const q = normed.map((x) => linear(w.readFloat32(n.q), x, numHeads * D, w.readFloat32(n.qBias)));
    const k = normed.map((x) => linear(w.readFloat32(n.k), x, numKvHeads * D, w.readFloat32(n.kBias)));
    const v = normed.map((x) => linear(w.readFloat32(n.v), x, numKvHeads * D, w.readFloat32(n.vBias)));
    for (let s = 0; s < S; s++) {
      for (let h = 0; h < numHeads; h++) rope(q[s], h * D, D, s, arch.ropeTheta);
      for (let h = 0; h < numKvHeads; h++) rope(k[s], h * D, D, s, arch.ropeTheta);
    }
    const attnOut = q.map((qs, s) => {
      const out = new Float32Array(numHeads * D);
      for (let h = 0; h < numHeads; h++) {
        const kvh = Math.floor(h / group);
        const scores = new Float64Array(s + 1);
        for (let t = 0; t <= s; t++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[h * D + d] * k[t][kvh * D + d];
          scores[t] = dot / Math.sqrt(D);
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t <= s; t++) sum += scores[t] = Math.exp(scores[t] - max);
        for (let t = 0; t <= s; t++) for (let d = 0; d < D; d++) out[h * D + d] += (scores[t] / sum) * v[t][kvh * D + d];
      }
      return linear(w.readFloat32(n.o), out, H);
    });
    hidden = hidden.map((h, s) => h.map((x, i) => x + attnOut[s][i]));

    // Sparse MoE plus the sigmoid-gated shared expert.
    hidden = hidden.map((h, s) => {
      const x = rmsNorm(h, w.readFloat32(n.postNorm), arch.rmsNormEps);
      const logits = linear(w.readFloat32(n.router), x, E);
      const { selected, weights } = route(logits, l);
      const out = new Float32Array(H);
      for (let e = 0; e < E; e++) {
        if (!selected[e]) continue;
        expertMask[(s * L + l) * E + e] = 1;
        const y = mlp(w, { gate: n.expert(e, 'gate_proj'), up: n.expert(e, 'up_proj'), down: n.expert(e, 'down_proj') }, x, arch.moeIntermediateSize);
        for (let i = 0; i < H; i++) out[i] += weights[e] * y[i];
      }
      if (arch.sharedExpertIntermediateSize > 0) {
        const y = mlp(w, { gate: n.shared('gate_proj'), up: n.shared('up_proj'), down: n.shared('down_proj') }, x, arch.sharedExpertIntermediateSize);
        const gate = sigmoid(linear(w.readFloat32(n.sharedGate), x, 1)[0]);
        for (let i = 0; i < H; i++) out[i] += gate * y[i];
      }
      return h.map((v2, i) => v2 + out[i]);
    });
  }
  const last = rmsNorm(hidden[S - 1], w.readFloat32(finalNormName), arch.rmsNormEps);
  return { lastLogits: linear(w.readFloat32(lmHeadName), last, arch.vocabSize), expertMask };
}

/** Caches fp32 reads so the forward does not re-read a tensor per token. */
export function cachedWeights(source: WeightSource): WeightSource {
  const cache = new Map<string, Float32Array>();
  return {
    readFloat32(name) {
      let t = cache.get(name);
      if (!t) cache.set(name, (t = source.readFloat32(name)));
      return t;
    },
  };
}

/** HF's default routing: softmax, top-k by probability (ties to the lower id), weights = p (optionally renormalized). */
export function topKRoute(k: number, renormalize: boolean): RouteFn {
  return (logits) => {
    const max = Math.max(...logits);
    const p = Array.from(logits, (v) => Math.exp(v - max));
    const sum = p.reduce((a, b) => a + b, 0);
    const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    const selected = new Uint8Array(p.length);
    const weights = new Float32Array(p.length);
    let mass = 0;
    for (const e of order.slice(0, k)) {
      selected[e] = 1;
      weights[e] = p[e] / sum;
      mass += weights[e];
    }
    if (renormalize) for (const e of order.slice(0, k)) weights[e] /= mass;
    return { selected, weights };
  };
}
