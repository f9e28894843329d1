import type { GraphScope } from '../onnx/index.ts';

/**
 * What the emitters need from the weights, independent of their storage format. The converter
 * implements it: each call streams one checkpoint tensor into the external data file (converted
 * or quantized) and declares the initializer under the checkpoint's tensor name.
 */

/** A linear layer y = x W^T (+ b) over 2-D activations [N, in] -> [N, out]. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Emits the product in `scope` (which may be an If branch); returns the output name. */
  apply(scope: GraphScope, x: string): string;
}

/** A stacked [E * rows, cols] quantized weight seen as ORT QMoE's [E, rows, cols * bits / 8] input. */
export interface QmoeWeights {
  weights: string;
  scales: string;
  bits: 4 | 8;
  blockSize: number;
  /** The scales' type, which QMoE requires to be its activations' type. */
  scaleType: 'float32' | 'float16';
}

export interface ModelWeights {
  /**
   * A linear layer from checkpoint `name` ([out, in]) and optional bias. The weight initializers
   * (and any one-time preparation, e.g. a Cast of fp16 weights that ORT folds at load) are
   * declared in `owner`'s graph; nodes of that graph and of its subgraphs may use them.
   */
  linear(owner: GraphScope, name: string, biasName?: string): Linear;
  /**
   * A linear over a matrix [out, in] the emitter assembles from checkpoint tensors (stacked experts,
   * the router fused with the shared-expert gate), stored under `key` in the model's format, or in
   * fp32 with `float32`. `build` runs at most once per key, however many graphs use it. `experts`
   * marks stacked expert weights, which a QMoE graph may view through qmoe() too; `bias` is an fp32
   * vector (from float32()) added to the product.
   */
  assembled(owner: GraphScope, key: string, shape: [number, number], build: () => Float32Array, opts?: { float32?: boolean; experts?: boolean; bias?: string }): Linear;
  /**
   * The residual stream's type, which every Linear takes and returns: float32 (CPU graphs), or
   * float16 (GPU graphs: no casts around WebGPU's fp16 kernels (QMoE is fp16 there), half the KV, and
   * MatMulNBits ran as its subgroup-matrix kernel at 256 rows on an H100).
   */
  readonly activations: 'float32' | 'float16';
  /** Whether products (the experts' too) run on 4- or 8-bit weights (MatMulNBits, QMoE). */
  readonly quantized: boolean;
  /** An fp32 vector (norm weights) as float32() gives it, in the activations' type. */
  vector(outer: GraphScope, name: string, build?: () => Float32Array): string;
  /** The same stored matrix as assembled(key, ...) seen as QMoE weights of `numExperts` experts; null when not quantized. */
  qmoe(owner: GraphScope, key: string, shape: [number, number], numExperts: number, build: () => Float32Array): QmoeWeights | null;
  /** A checkpoint tensor as fp32, for `assembled` builders. */
  read(name: string): Float32Array;
  /** An fp32 tensor (norm weights, biases): kept fp32 in every format; `build` assembles one that is not in the checkpoint. */
  float32(outer: GraphScope, name: string, build?: () => Float32Array): string;
  /** The embedding table's gather for `ids`, [..., H] in the activations' type. */
  embed(scope: GraphScope, name: string, ids: string): string;
}
