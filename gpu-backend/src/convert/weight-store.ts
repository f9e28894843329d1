import type { ExternalTensor, GraphScope, WeightWriter } from '../model/onnx/index.ts';
import { toFloat16 } from '../checkpoint/to-float16.ts';
import type { Linear, ModelWeights, QmoeWeights } from '../model/qwen2moe/weights.ts';
import type { WeightDtype } from '../model/contract.ts';
import type { Checkpoint } from '../checkpoint/safetensors-reader.ts';
import type { ExpectedTensor, TensorRole } from '../checkpoint/tensor-names.ts';
import { quantizeBlockwise, type QuantBits } from './quantize.ts';

/**
 * ModelWeights backed by a checkpoint and a WeightWriter: each request reads one tensor, converts
 * it to the model's weight format, appends it to model.onnx.data and forgets it, so the converter
 * holds one tensor at a time. Initializers keep the checkpoint's names (quantization scales add
 * a `.scales` suffix).
 *
 * A WeightStore is shared by every graph of one model directory (e.g. WebGPU's latency and
 * throughput graphs): a tensor is written once and each graph declares an initializer over the
 * same bytes, with its own dims where the graphs view it differently (QMoE's [E, rows, packed]).
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

/** A stored matrix: fp32/fp16 values, or MatMulNBits' packed codes and their fp32 scales. */
type Stored =
  | { kind: 'plain'; w: ExternalTensor }
  | { kind: 'quantized'; bits: QuantBits; packed: ExternalTensor; scales: ExternalTensor; halfScales?: ExternalTensor };

export interface StoreLayout {
  /** QMoE's scales have the activations' type: fp16 where the graph runs QMoE in fp16 (WebGPU). */
  qmoeScaleType?: 'float32' | 'float16';
}

export class WeightStore {
  private readonly stored = new Map<string, Stored>();
  private readonly extra = new Map<string, ExternalTensor>();

  constructor(
    readonly checkpoint: Checkpoint,
    readonly writer: WeightWriter,
    readonly format: WeightDtype,
    readonly expected: Map<string, ExpectedTensor>,
    readonly layout: StoreLayout = {},
  ) {}

  get qmoeScaleType(): 'float32' | 'float16' {
    return this.layout.qmoeScaleType ?? 'float32';
  }

  shape(name: string): number[] {
    const t = this.expected.get(name);
    if (!t) throw new Error(`tensor ${name}: not part of the Qwen2MoE layout`);
    return t.shape;
  }

  /** A matrix [n, k] under `key` in `storage`, written on first use; `halfScales` also writes fp16 scales (QMoE, fp16 products). */
  matrix(key: string, storage: WeightDtype, n: number, k: number, values: () => Float32Array, halfScales = false): Stored {
    let s = this.stored.get(key);
    if (s) return s;
    if (storage === 'fp32') s = { kind: 'plain', w: this.writer.append('float32', [n, k], values()) };
    else if (storage === 'fp16') s = { kind: 'plain', w: this.writer.append('float16', [n, k], toFloat16(values())) };
    else {
      const bits: QuantBits = storage === 'int8' ? 8 : 4;
      const q = quantizeBlockwise(values(), n, k, bits, QUANT_BLOCK_SIZE);
      const { blocksPerRow, blobBytes } = q.dims;
      s = { kind: 'quantized', bits, packed: this.writer.append('uint8', [n, blocksPerRow, blobBytes], q.packed), scales: this.writer.append('float32', [n * blocksPerRow], q.scales) };
      if (halfScales) s.halfScales = this.writer.append('float16', [n * blocksPerRow], toFloat16(q.scales));
    }
    this.stored.set(key, s);
    return s;
  }

  /** Any other tensor written once under `key` (fp32 vectors, the fp16 embedding, fp16 copies of scales). */
  tensor(key: string, make: () => ExternalTensor): ExternalTensor {
    let t = this.extra.get(key);
    if (!t) this.extra.set(key, (t = make()));
    return t;
  }
}

export interface GraphWeightOptions {
  /** MatMulNBits accuracy_level: 4 (int8 activations) is fast on CPU; 0 computes in fp32, for exactness checks. */
  accuracyLevel?: number;
  /**
   * fp16 weights in an fp32 graph: 'float32' widens them once at load (the CPU EP has no fast fp16
   * Gemm); 'float16' keeps them fp16 and casts each product's input and output.
   */
  fp16Compute?: 'float32' | 'float16';
  /**
   * fp32/fp16 products as MatMul over Transpose(W), which ORT folds once at load, instead of
   * Gemm(transB): on an H100, WebGPU's Gemm took 0.77 ms for the [1,2048]x[2048,61] router.
   */
  matmul?: boolean;
  /** The residual stream's type (ModelWeights.activations); float16 is for GPU graphs (`matmul`). */
  activations?: 'float32' | 'float16';
}

/** The ModelWeights one graph sees: declares initializers in `root` over the store's bytes. */
export class StreamingWeights implements ModelWeights {
  private readonly declared = new Map<string, string>();
  private readonly accuracyLevel: number;
  private readonly fp16Compute: 'float32' | 'float16';
  private readonly matmul: boolean;
  readonly activations: 'float32' | 'float16';

  constructor(
    private readonly store: WeightStore,
    private readonly root: GraphScope,
    opts: GraphWeightOptions = {},
  ) {
    this.accuracyLevel = opts.accuracyLevel ?? CPU_ACCURACY_LEVEL;
    this.fp16Compute = opts.fp16Compute ?? 'float32';
    this.matmul = opts.matmul ?? false;
    this.activations = opts.activations ?? 'float32';
    if (this.activations === 'float16' && !this.matmul) throw new Error('fp16 activations are for GPU graphs (matmul products)');
  }

  private get half(): boolean {
    return this.activations === 'float16';
  }

  get quantized(): boolean {
    return this.store.format === 'int4' || this.store.format === 'int8';
  }

  read(name: string): Float32Array {
    return this.store.checkpoint.readFloat32(name);
  }

  /** Declares an initializer once per graph (an emitter may ask twice, e.g. a shared table). */
  private declare(name: string, make: () => string): string {
    let v = this.declared.get(name);
    if (!v) this.declared.set(name, (v = make()));
    return v;
  }

  private init(owner: GraphScope, name: string, t: ExternalTensor, dims?: number[]): string {
    return this.declare(name, () => owner.initializer(name, dims ? { ...t, dims } : t));
  }

  /** `v` (a constant) in fp16 once per graph: ORT folds the Cast at session load. */
  private halfConst(owner: GraphScope, v: string): string {
    return this.declare(`${v}#f16`, () => owner.node('Cast', [v], { to: 10 }, { name: `${v}/ToHalf` }));
  }

  float32(_outer: GraphScope, name: string, build?: () => Float32Array): string {
    return this.init(this.root, name, this.store.tensor(name, () => {
      if (!build) return this.store.writer.append('float32', this.store.shape(name), this.read(name));
      const v = build();
      return this.store.writer.append('float32', [v.length], v);
    }));
  }

  vector(outer: GraphScope, name: string, build?: () => Float32Array): string {
    const v = this.float32(outer, name, build);
    return this.half ? this.halfConst(this.root, v) : v;
  }

  embed(scope: GraphScope, name: string, ids: string): string {
    // fp16 graphs and fp16 models look up an fp16 table (half the memory, and no Cast in fp16 graphs);
    // fp32 graphs widen only the looked-up rows.
    if (!this.half && storageOf('embed', this.store.format) === 'fp32') return scope.node('Gather', [this.float32(scope, name), ids], { axis: 0 });
    const table = this.init(this.root, name, this.store.tensor(name, () => this.store.writer.append('float16', this.store.shape(name), toFloat16(this.read(name)))));
    const rows = scope.node('Gather', [table, ids], { axis: 0 });
    return this.half ? rows : scope.node('Cast', [rows], { to: 1 });
  }

  linear(owner: GraphScope, name: string, biasName?: string): Linear {
    const [n, k] = this.store.shape(name);
    const storage = storageOf(this.store.expected.get(name)!.role, this.store.format);
    return this.linearOf(owner, name, storage, n, k, () => this.read(name), biasName && this.float32(owner, biasName));
  }

  assembled(owner: GraphScope, key: string, shape: [number, number], build: () => Float32Array, opts: { float32?: boolean; experts?: boolean; bias?: string } = {}): Linear {
    // Stacked experts may also be seen as QMoE weights, whose scales are fp16 on WebGPU.
    return this.linearOf(owner, key, opts.float32 ? 'fp32' : this.store.format, shape[0], shape[1], build, opts.bias, Boolean(opts.experts) && this.store.qmoeScaleType === 'float16');
  }

  qmoe(owner: GraphScope, key: string, shape: [number, number], numExperts: number, build: () => Float32Array): QmoeWeights | null {
    const half = this.store.qmoeScaleType === 'float16';
    const s = this.store.matrix(key, this.store.format, shape[0], shape[1], build, half || this.half);
    if (s.kind !== 'quantized') return null;
    const [n, blocks, blob] = s.packed.dims;
    const rows = n / numExperts;
    if (half && !s.halfScales) throw new Error(`${key}: stored before QMoE asked for it, without fp16 scales`);
    return {
      weights: this.init(owner, `${key}.qmoe`, s.packed, [numExperts, rows, blocks * blob]),
      scales: this.init(owner, `${key}.qmoe.scales`, half ? s.halfScales! : s.scales, [numExperts, rows, blocks]),
      bits: s.bits,
      blockSize: QUANT_BLOCK_SIZE,
      scaleType: this.store.qmoeScaleType,
    };
  }

  /** A product in the activations' type; `bias` is an fp32 vector name (cast once for fp16 graphs). */
  private linearOf(owner: GraphScope, key: string, storage: WeightDtype, n: number, k: number, values: () => Float32Array, bias?: string | '', halfScales = false): Linear {
    const half = this.half;
    const b = bias && half ? this.halfConst(this.root, bias) : bias;
    const withBias = (scope: GraphScope, y: string) => (b ? scope.node('Add', [y, b], undefined, { name: 'Bias' }) : y);
    const s = this.store.matrix(key, storage, n, k, values, halfScales || half);
    if (s.kind === 'plain' && this.matmul) {
      const wT = this.declare(`${key}#T`, () => owner.node('Transpose', [this.init(owner, key, s.w)], { perm: [1, 0] }, { name: `${key}/Transpose` }));
      const w16 = s.w.dtype === 'float16';
      // fp16 graphs take fp32 weights (the router) as a folded fp16 copy; fp32 graphs cast around fp16 weights.
      const w = half && !w16 ? this.halfConst(owner, wT) : wT;
      return {
        inFeatures: k,
        outFeatures: n,
        apply: (sc, x) => {
          if (half || !w16) return withBias(sc, sc.node('MatMul', [x, w]));
          return withBias(sc, sc.node('Cast', [sc.node('MatMul', [sc.node('Cast', [x], { to: 10 }, { name: 'ToHalf' }), w])], { to: 1 }, { name: 'ToFloat' }));
        },
      };
    }
    if (s.kind === 'plain' && s.w.dtype === 'float32') {
      const w = this.init(owner, key, s.w);
      return { inFeatures: k, outFeatures: n, apply: (sc, x) => sc.node('Gemm', [x, w, ...(b ? [b] : [])], { transB: 1 }) };
    }
    if (s.kind === 'plain') {
      const w16 = this.init(owner, key, s.w);
      if (this.fp16Compute === 'float16') {
        return {
          inFeatures: k,
          outFeatures: n,
          apply: (sc, x) => withBias(sc, sc.node('Cast', [sc.node('Gemm', [sc.node('Cast', [x], { to: 10 }, { name: 'ToHalf' }), w16], { transB: 1 })], { to: 1 }, { name: 'ToFloat' })),
        };
      }
      // The CPU EP has no fast fp16 Gemm; the Cast of an initializer is constant-folded at session load.
      const w = this.declare(`${key}#f32`, () => owner.node('Cast', [w16], { to: 1 }, { name: `${key}/Cast` }));
      return { inFeatures: k, outFeatures: n, apply: (sc, x) => sc.node('Gemm', [x, w, ...(b ? [b] : [])], { transB: 1 }) };
    }
    const packed = this.init(owner, key, s.packed);
    if (half && !s.halfScales) throw new Error(`${key}: stored before an fp16 graph asked for it, without fp16 scales`);
    // MatMulNBits' scales (and bias) have its activations' type.
    const scales = half ? this.init(owner, `${key}.scales.f16`, s.halfScales!) : this.init(owner, `${key}.scales`, s.scales);
    // The bias is MatMulNBits' input 5 (after zero_points and g_idx): one node, not two.
    return {
      inFeatures: k,
      outFeatures: n,
      apply: (sc, x) =>
        sc.node('MatMulNBits', [x, packed, scales, ...(b ? ['', '', b] : [])], {
          K: k, N: n, bits: s.bits, block_size: QUANT_BLOCK_SIZE, accuracy_level: this.accuracyLevel,
        }, { domain: 'com.microsoft' }),
    };
  }
}
