import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { bytesOf, DTYPE_BYTES, elementCount, type DType } from './dtypes.ts';
import type { ExternalTensor } from './tensor.ts';

/** ORT memory-maps external data only at page-aligned offsets (4096 on Linux); else it copies. */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

/**
 * Streams tensor bytes into one external data file next to the graph. Each tensor is written as
 * it arrives (whole or in chunks) and forgotten, so converting a 14B-parameter checkpoint holds
 * one tensor at a time, never all weights. Offsets are padded to EXTERNAL_DATA_ALIGNMENT.
 *
 *   const w = new WeightWriter(join(dir, 'model.onnx.data'));
 *   g.initializer('model.embed_tokens.weight', w.append('float16', [V, H], halfBits));
 *   w.close();
 */
export class WeightWriter {
  /** The file name as graph initializers reference it (relative to the .onnx file). */
  readonly location: string;
  private readonly fd: number;
  private position = 0;
  private closed = false;

  constructor(readonly path: string) {
    this.location = basename(path);
    this.fd = openSync(path, 'w');
  }

  /** Bytes written so far, padding included. */
  get size(): number {
    return this.position;
  }

  /**
   * Appends one tensor. `data` is the tensor's little-endian element bytes: one typed array, or
   * chunks (e.g. a generator converting bf16 -> fp16 row block by row block) that together make it.
   */
  append(dtype: DType, dims: number[], data: ArrayBufferView | Iterable<ArrayBufferView>): ExternalTensor {
    if (this.closed) throw new Error(`WeightWriter(${this.path}) is closed`);
    const offset = alignUp(this.position, EXTERNAL_DATA_ALIGNMENT);
    let at = offset;
    const chunks = ArrayBuffer.isView(data) ? [data] : data;
    for (const chunk of chunks) {
      const bytes = bytesOf(chunk);
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, at + done);
      at += bytes.length;
    }
    const length = at - offset;
    // int4 / packed tensors have no element dtype of their own; they pass uint8 dims of the packed bytes.
    const expected = elementCount(dims) * DTYPE_BYTES[dtype];
    if (length !== expected) {
      throw new Error(`external tensor of ${dtype} [${dims.join(', ')}]: ${length} bytes written, ${expected} expected`);
    }
    this.position = at;
    return { dtype, dims, location: this.location, offset, length };
  }

  /** Flushes to disk and closes; the file is complete only after this. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
