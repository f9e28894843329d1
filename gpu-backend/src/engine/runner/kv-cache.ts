export type KvDtype = 'float32' | 'float16';
/** fp16 KV is carried as raw IEEE half bits: the runner only copies it, never does arithmetic. */
export type KvArray = Float32Array | Uint16Array;

export interface KvShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  dtype: KvDtype;
}

export const newKvArray = (dtype: KvDtype, length: number): KvArray => (dtype === 'float16' ? new Uint16Array(length) : new Float32Array(length));

/**
 * One sequence's keys and values: per layer, [kvH, capacity, D] so a head's positions are contiguous
 * and a whole head's past copies into the batch tensor in one `set`. Capacity grows by doubling up
 * to the scheduler's reservation (prompt + max_tokens), so memory follows actual length.
 */
export class SequenceKv {
  /** Positions copied into this object's arrays. */
  stored = 0;
  /**
   * Positions computed but still held only in the runner's resident batch tensors (the last step's
   * present_*), copied here when the batch composition changes (see ResidentBatch).
   */
  pending = 0;
  private capacity = 0;
  private keys: KvArray[] = [];
  private values: KvArray[] = [];

  constructor(
    private readonly shape: KvShape,
    private readonly maxTokens: number,
  ) {}

  /** Tokens of this sequence in the KV cache, wherever they are held. */
  get length(): number {
    return this.stored + this.pending;
  }

  /** Bytes held now. */
  get bytes(): number {
    const perToken = this.shape.numLayers * 2 * this.shape.numKvHeads * this.shape.headDim * (this.shape.dtype === 'float16' ? 2 : 4);
    return this.capacity * perToken;
  }

  /** Copies positions [0, stored) of layer l into dst laid out [kvH, dstLen, D] at dstOffset. */
  readInto(layer: number, which: 'key' | 'value', dst: KvArray, dstOffset: number, dstLen: number): void {
    if (this.pending > 0) throw new Error('SequenceKv.readInto: positions still pending in the resident batch');
    const { numKvHeads, headDim } = this.shape;
    const src = (which === 'key' ? this.keys : this.values)[layer];
    if (!src || this.stored === 0) return;
    for (let h = 0; h < numKvHeads; h++) {
      dst.set(src.subarray(h * this.capacity * headDim, (h * this.capacity + this.stored) * headDim), dstOffset + h * dstLen * headDim);
    }
  }

  /**
   * Appends `count` new positions of every layer from a present_* row laid out [kvH, srcLen, D]
   * starting at position srcPos.
   */
  append(presentKeys: readonly KvArray[], presentValues: readonly KvArray[], rowOffset: number, srcLen: number, srcPos: number, count: number): void {
    if (count === 0) return;
    this.ensure(this.stored + count);
    const { numKvHeads, headDim, numLayers } = this.shape;
    for (let l = 0; l < numLayers; l++) {
      for (const [src, dst] of [[presentKeys[l], this.keys[l]], [presentValues[l], this.values[l]]] as const) {
        for (let h = 0; h < numKvHeads; h++) {
          const from = rowOffset + (h * srcLen + srcPos) * headDim;
          dst.set(src.subarray(from, from + count * headDim), (h * this.capacity + this.stored) * headDim);
        }
      }
    }
    this.stored += count;
  }

  private ensure(needed: number): void {
    if (needed <= this.capacity) return;
    if (needed > this.maxTokens) throw new Error(`KV cache overflow: ${needed} tokens exceed the sequence's reservation of ${this.maxTokens}`);
    const capacity = Math.min(this.maxTokens, Math.max(needed, this.capacity * 2, 16));
    const { numKvHeads, headDim, numLayers, dtype } = this.shape;
    const grow = (old: KvArray | undefined): KvArray => {
      const next = newKvArray(dtype, numKvHeads * capacity * headDim);
      if (old) for (let h = 0; h < numKvHeads; h++) next.set(old.subarray(h * this.capacity * headDim, (h * this.capacity + this.stored) * headDim), h * capacity * headDim);
      return next;
    };
    for (let l = 0; l < numLayers; l++) {
      this.keys[l] = grow(this.keys[l]);
      this.values[l] = grow(this.values[l]);
    }
    this.capacity = capacity;
  }
}
