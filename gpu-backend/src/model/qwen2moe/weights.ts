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

export interface ModelWeights {
  /**
   * A linear layer from checkpoint `name` ([out, in]) and optional bias. The weight initializers
   * (and any one-time preparation, e.g. a Cast of fp16 weights that ORT folds at load) are
   * declared in `owner`'s graph; nodes of that graph and of its subgraphs may use them.
   */
  linear(owner: GraphScope, name: string, biasName?: string): Linear;
  /** An fp32 tensor (norm weights, the router): kept fp32 in every format. */
  float32(outer: GraphScope, name: string): string;
  /** The embedding table's gather for `ids`, as fp32 [..., H]. */
  embed(scope: GraphScope, name: string, ids: string): string;
}
