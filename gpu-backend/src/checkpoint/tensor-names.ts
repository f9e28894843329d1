import type { Architecture } from '../model/contract.ts';

/** The HF Qwen2MoE tensor names and shapes ([out, in] for linears), one place for all users. */

export const embedName = 'model.embed_tokens.weight';
export const finalNormName = 'model.norm.weight';
export const lmHeadName = 'lm_head.weight';

export const layerNames = (l: number) => {
  const p = `model.layers.${l}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    qBias: `${p}.self_attn.q_proj.bias`,
    k: `${p}.self_attn.k_proj.weight`,
    kBias: `${p}.self_attn.k_proj.bias`,
    v: `${p}.self_attn.v_proj.weight`,
    vBias: `${p}.self_attn.v_proj.bias`,
    o: `${p}.self_attn.o_proj.weight`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    router: `${p}.mlp.gate.weight`,
    expert: (e: number, proj: 'gate_proj' | 'up_proj' | 'down_proj') => `${p}.mlp.experts.${e}.${proj}.weight`,
    shared: (proj: 'gate_proj' | 'up_proj' | 'down_proj') => `${p}.mlp.shared_expert.${proj}.weight`,
    sharedGate: `${p}.mlp.shared_expert_gate.weight`,
  };
};

export type TensorRole = 'embed' | 'norm' | 'linear' | 'bias' | 'router' | 'shared_gate' | 'lm_head';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  role: TensorRole;
  /** Input features of a linear (for init scaling and quantization). */
  fanIn?: number;
}

/** Every tensor a Qwen2MoE checkpoint of this shape holds, in HF's file order. */
export function expectedTensors(a: Architecture): ExpectedTensor[] {
  const H = a.hiddenSize;
  const qDim = a.numHeads * a.headDim;
  const kvDim = a.numKvHeads * a.headDim;
  const I = a.moeIntermediateSize;
  const S = a.sharedExpertIntermediateSize;
  const lin = (name: string, out: number, inp: number): ExpectedTensor => ({ name, shape: [out, inp], role: 'linear', fanIn: inp });
  const out: ExpectedTensor[] = [{ name: embedName, shape: [a.vocabSize, H], role: 'embed' }];
  for (let l = 0; l < a.numLayers; l++) {
    const n = layerNames(l);
    out.push({ name: n.inputNorm, shape: [H], role: 'norm' });
    out.push(lin(n.q, qDim, H), { name: n.qBias, shape: [qDim], role: 'bias' });
    out.push(lin(n.k, kvDim, H), { name: n.kBias, shape: [kvDim], role: 'bias' });
    out.push(lin(n.v, kvDim, H), { name: n.vBias, shape: [kvDim], role: 'bias' });
    out.push(lin(n.o, H, qDim));
    out.push({ name: n.postNorm, shape: [H], role: 'norm' });
    out.push({ name: n.router, shape: [a.numExperts, H], role: 'router', fanIn: H });
    for (let e = 0; e < a.numExperts; e++) {
      out.push(lin(n.expert(e, 'gate_proj'), I, H), lin(n.expert(e, 'up_proj'), I, H), lin(n.expert(e, 'down_proj'), H, I));
    }
    if (S > 0) {
      out.push(lin(n.shared('gate_proj'), S, H), lin(n.shared('up_proj'), S, H), lin(n.shared('down_proj'), H, S));
      out.push({ name: n.sharedGate, shape: [1, H], role: 'shared_gate', fanIn: H });
    }
  }
  out.push({ name: finalNormName, shape: [H], role: 'norm' });
  out.push({ name: lmHeadName, shape: [a.vocabSize, H], role: 'lm_head', fanIn: H });
  return out;
}
