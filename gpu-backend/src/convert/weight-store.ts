import { toFloat16, type GraphScope, type WeightWriter } from '../model/onnx/index.ts';
import type { Linear, ModelWeights } from '../model/qwen2moe/weights.ts';
import type { WeightDtype } from '../model/contract.ts';
import type { Checkpoint } from '../checkpoint/safetensors-reader.ts';
import type { ExpectedTensor, TensorRole } from '../checkpoint/tensor-names.ts';
import { quantizeBlockwise, type QuantBits } from './quantize.ts';

/**
 * ModelWeights backed by a checkpoint and a WeightWriter: each request reads one tensor, converts
 * it to the model's weight format, appends it to model.onnx.data and forgets it, so the converter
 * holds one tensor at a time. Initializers keep the checkpoint's names (quantization scales add
 * a `.scales` suffix).
 */

export const QUANT_BLOCK_SIZE = 32;
/** MatMulNBits' fastest CPU path: int8 activations against the packed weights (ort-notes). */
export const CPU_ACCURACY_LEVEL = 4;

/**
 * How each kind of tensor is stored in a weight format. Linears (attention, experts, shared
 * expert, lm_head) take the format; the router and shared-expert gate are gates whose outputs
 * are compared or squashed, so they stay fp32 with norms and biases; the embedding table is a
 * lookup, not a matmul, so it is fp16 in fp16 models and fp32 otherwise.
 */
export function storageOf(role: TensorRole, format: WeightDtype): WeightDtype {
  if (role === 'linear' || role === 'lm_head') return format;
  if (role === 'embed' && format === 'fp16') return 'fp16';
  return 'fp32';
}

export class StreamingWeights implements ModelWeights {
  private readonly declared = new Map<string, string>();

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly writer: WeightWriter,
    private readonly format: WeightDtype,
    private readonly expected: Map<string, ExpectedTensor>,
    private readonly root: GraphScope,
    /** MatMulNBits accuracy_level: 4 (int8 activations) is fast on CPU; 0 computes in fp32, for exactness checks. */
    private readonly accuracyLevel = CPU_ACCURACY_LEVEL,
  ) {}

  private read(name: string): Float32Array {
    return this.checkpoint.readFloat32(name);
  }

  private shape(name: string): number[] {
    const t = this.expected.get(name);
    if (!t) throw new Error(`tensor ${name}: not part of the Qwen2MoE layout`);
    return t.shape;
  }

  /** Declares an initializer once (an emitter may ask twice, e.g. a shared table). */
  private declare(name: string, make: () => string): string {
    let v = this.declared.get(name);
    if (!v) this.declared.set(name, (v = make()));
    return v;
  }

  float32(_outer: GraphScope, name: string): string {
    return this.declare(name, () => this.root.initializer(name, this.writer.append('float32', this.shape(name), this.read(name))));
  }

  embed(scope: GraphScope, name: string, ids: string): string {
    if (storageOf('embed', this.format) === 'fp32') return scope.node('Gather', [this.float32(scope, name), ids], { axis: 0 });
    // fp16 table, widened after the gather so only the looked-up rows are cast.
    const table = this.declare(name, () => this.root.initializer(name, this.writer.append('float16', this.shape(name), toFloat16(this.read(name)))));
    return scope.node('Cast', [scope.node('Gather', [table, ids], { axis: 0 })], { to: 1 });
  }

  linear(owner: GraphScope, name: string, biasName?: string): Linear {
    const [outFeatures, inFeatures] = this.shape(name);
    const bias = biasName && this.float32(owner, biasName);
    const withBias = (scope: GraphScope, y: string) => (bias ? scope.node('Add', [y, bias], undefined, { name: 'Bias' }) : y);
    const storage = storageOf(this.expected.get(name)!.role, this.format);
    if (storage === 'fp32') {
      const w = this.declare(name, () => owner.initializer(name, this.writer.append('float32', [outFeatures, inFeatures], this.read(name))));
      return { inFeatures, outFeatures, apply: (s, x) => s.node('Gemm', [x, w, ...(bias ? [bias] : [])], { transB: 1 }) };
    }
    if (storage === 'fp16') {
      const w16 = this.declare(name, () => owner.initializer(name, this.writer.append('float16', [outFeatures, inFeatures], toFloat16(this.read(name)))));
      // The CPU EP has no fast fp16 Gemm; the Cast of an initializer is constant-folded at session load.
      const w = this.declare(`${name}#f32`, () => owner.node('Cast', [w16], { to: 1 }, { name: `${name}/Cast` }));
      return { inFeatures, outFeatures, apply: (s, x) => s.node('Gemm', [x, w, ...(bias ? [bias] : [])], { transB: 1 }) };
    }
    const bits: QuantBits = storage === 'int8' ? 8 : 4;
    const [packed, scales] = this.declare(name, () => {
      const q = quantizeBlockwise(this.read(name), outFeatures, inFeatures, bits, QUANT_BLOCK_SIZE);
      const { n, blocksPerRow, blobBytes } = q.dims;
      const b = owner.initializer(name, this.writer.append('uint8', [n, blocksPerRow, blobBytes], q.packed));
      const sc = owner.initializer(`${name}.scales`, this.writer.append('float32', [n * blocksPerRow], q.scales));
      return `${b}\n${sc}`;
    }).split('\n');
    return {
      inFeatures,
      outFeatures,
      apply: (s, x) =>
        withBias(s, s.node('MatMulNBits', [x, packed, scales], {
          K: inFeatures, N: outFeatures, bits, block_size: QUANT_BLOCK_SIZE, accuracy_level: this.accuracyLevel,
        }, { domain: 'com.microsoft' })),
    };
  }
}
