import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectedTensors } from '../../checkpoint/tensor-names.ts';
import { getTinyModel } from '../../testing/tiny-model.ts';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, ManifestSchema, type Manifest } from '../contract.ts';

/** The converted graph's shape as other components rely on it: names, I/O and the per-expert gating. */

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;
const models: Record<string, { manifest: Manifest; model: Model }> = {};

beforeAll(async () => {
  for (const dtype of ['fp32', 'int4'] as const) {
    const { modelDir } = await getTinyModel({ dtype });
    const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')));
    models[dtype] = { manifest, model: onnx.ModelProto.decode(readFileSync(join(modelDir, manifest.graphs.cpu!))) };
  }
});

describe('converted Qwen2MoE graph structure', () => {
  it('keeps every checkpoint tensor as an initializer of the same name, stored externally', () => {
    const { manifest, model } = models.fp32;
    const branches = model.graph!.node!.filter((n) => n.opType === 'If').map((n) => ({ name: n.name!, g: n.attribute!.find((a) => a.name === 'then_branch')!.g! }));
    const inits = new Map(model.graph!.initializer!.map((t) => [t.name, t]));
    for (const b of branches) for (const t of b.g.initializer!) inits.set(t.name, t);
    // Branch-local weights were measured to stay resident twice; they live in the main graph.
    expect(branches.flatMap((b) => b.g.initializer!.filter((t) => t.name!.startsWith('model.')))).toEqual([]);
    const { numLayers: L, numExperts: E, hiddenSize: H } = manifest.architecture;
    for (const t of expectedTensors(manifest.architecture)) {
      // The router and the shared-expert gate are stored as one fused [E+1, H] matrix (one GEMM).
      if (t.role === 'router' || t.role === 'shared_gate') continue;
      const init = inits.get(t.name);
      expect(init, t.name).toBeDefined();
      expect(init!.dims!.map(Number)).toEqual(t.shape);
      expect(init!.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    }
    for (let l = 0; l < L; l++) expect(inits.get(`model.layers.${l}.mlp.gate+shared_expert_gate`)?.dims?.map(Number)).toEqual([E + 1, H]);
  });

  it('declares the contract inputs and outputs', () => {
    const { manifest, model } = models.fp32;
    const L = manifest.architecture.numLayers;
    const inputs = model.graph!.input!.map((i) => i.name);
    const outputs = model.graph!.output!.map((o) => o.name);
    for (const name of [GRAPH_INPUTS.inputIds, GRAPH_INPUTS.positionIds, GRAPH_INPUTS.attentionBias, GRAPH_INPUTS.lastIndex, GRAPH_INPUTS.routeStrategy, GRAPH_INPUTS.routeTopK]) {
      expect(inputs).toContain(name);
    }
    for (let l = 0; l < L; l++) {
      expect(inputs).toEqual(expect.arrayContaining([GRAPH_INPUTS.pastKey(l), GRAPH_INPUTS.pastValue(l)]));
      expect(outputs).toEqual(expect.arrayContaining([GRAPH_OUTPUTS.presentKey(l), GRAPH_OUTPUTS.presentValue(l)]));
    }
    expect(outputs).toEqual(expect.arrayContaining([GRAPH_OUTPUTS.logits, GRAPH_OUTPUTS.hostOutputs]));
  });

  it('gates each expert of each layer behind its own If, named by path', () => {
    const { manifest, model } = models.fp32;
    const { numLayers: L, numExperts: E } = manifest.architecture;
    const ifs = model.graph!.node!.filter((n) => n.opType === 'If').map((n) => n.name);
    expect(ifs).toHaveLength(L * E);
    expect(ifs).toContain(`/model/layers.${L - 1}/moe/experts/${E - 1}/If`);
    // The expert's matmuls live only inside the then-branch, so an unselected expert costs no matmul.
    const mainGemms = model.graph!.node!.filter((n) => n.opType === 'Gemm' && n.name!.includes('/experts/'));
    expect(mainGemms).toEqual([]);
  });

  it('uses MatMulNBits (4-bit, block 32, accuracy_level 4) for linears in int4 models, fp32 for the router', () => {
    const { model } = models.int4;
    const attrs = (n: onnxProto.onnx.INodeProto) => Object.fromEntries(n.attribute!.map((a) => [a.name, Number(a.i)]));
    const thenNodes = model.graph!.node!.filter((n) => n.opType === 'If').flatMap((n) => n.attribute!.find((a) => a.name === 'then_branch')!.g!.node!);
    const nbits = [...model.graph!.node!, ...thenNodes].filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.length).toBeGreaterThan(0);
    for (const n of nbits) expect(attrs(n)).toMatchObject({ bits: 4, block_size: 32, accuracy_level: 4 });
    const router = model.graph!.node!.find((n) => n.name === '/model/layers.0/moe/router_and_shared_gate/Gemm');
    expect(router?.opType).toBe('Gemm');
    expect(router?.input?.[1]).toBe('model.layers.0.mlp.gate+shared_expert_gate');
  });
});
