import { bf16ToFloat32, float32ToBf16, float32ToFloat16, fp16BitsToNumber, fp32BitsToFp16Bits, type SafetensorsDtype } from './dtypes.ts';
import { fillTriangular } from './prng.ts';
import type { KernelContext } from './worker-pool.ts';

/**
 * The per-chunk work of generating and reading checkpoints, as worker-pool kernels: each task
 * covers a slice of one tensor and does its own file I/O (pwrite / pread on a shared fd), so
 * threads never pass tensor bytes through the main thread. Self-contained except for the
 * helpers listed with each kernel (called through ctx.lib).
 */

/** Elements per task: big enough to amortize a syscall, small enough to balance 16 threads. */
export const CHUNK_ELEMENTS = 1 << 20;

export interface FillTask {
  fd: number;
  /** Absolute file position of the chunk's first element. */
  position: number;
  count: number;
  /** xorshift32 state before the chunk's first element (see xorshiftJump). */
  state: number;
  k: number;
  mean: number;
  dtype: 'F32' | 'BF16';
}

export const FILL_HELPERS = { fillTriangular, float32ToBf16 };

export function fillChunk(t: FillTask, ctx: KernelContext<typeof FILL_HELPERS>): void {
  const values = new Float32Array(ctx.scratch(t.count * 4), 0, t.count);
  ctx.lib.fillTriangular(values, 0, t.count, t.state, t.k, t.mean);
  let bytes = new Uint8Array(values.buffer, 0, t.count * 4);
  if (t.dtype === 'BF16') {
    // In place: bf16 element i lands in bytes fp32 element i has already been read from.
    ctx.lib.float32ToBf16(values, new Uint16Array(values.buffer, 0, t.count));
    bytes = bytes.subarray(0, t.count * 2);
  }
  for (let done = 0; done < bytes.length; ) done += ctx.fs.writeSync(t.fd, bytes, done, bytes.length - done, t.position + done);
}

/** How decodeChunk's short-read error starts (spelled out in the kernel: its source cannot refer to a constant). */
export const TRUNCATED = 'truncated';

export interface DecodeTask {
  fd: number;
  position: number;
  count: number;
  src: SafetensorsDtype;
  /** fp32 values, or fp16 bits. */
  to: 'f32' | 'f16';
  out: ArrayBuffer | SharedArrayBuffer;
  /** Element index in `out` of the chunk's first element. */
  at: number;
}

export const DECODE_HELPERS = { bf16ToFloat32, float32ToFloat16, fp16BitsToNumber, fp32BitsToFp16Bits };

export function decodeChunk(t: DecodeTask, ctx: KernelContext<typeof DECODE_HELPERS>): void {
  const srcBytes = t.src === 'F32' ? 4 : 2;
  const want = t.count * srcBytes;
  const raw = new Uint8Array(ctx.scratch(want), 0, want);
  for (let done = 0; done < want; ) {
    const n = ctx.fs.readSync(t.fd, raw, done, want - done, t.position + done);
    if (n <= 0) throw new Error(`truncated at byte ${t.position + done}`); // starts with TRUNCATED
    done += n;
  }
  const g = globalThis as { __pickbanBf16ToF16?: Uint16Array; __pickbanF16ToF32?: Float32Array };
  if (t.to === 'f32') {
    const out = new Float32Array(t.out);
    if (t.src === 'F32') out.set(new Float32Array(raw.buffer, 0, t.count), t.at);
    else if (t.src === 'BF16') ctx.lib.bf16ToFloat32(new Uint16Array(raw.buffer, 0, t.count), out, t.at);
    else {
      const table = (g.__pickbanF16ToF32 ??= Float32Array.from({ length: 65536 }, (_, h) => ctx.lib.fp16BitsToNumber(h)));
      const bits = new Uint16Array(raw.buffer, 0, t.count);
      for (let i = 0; i < t.count; i++) out[t.at + i] = table[bits[i]];
    }
    return;
  }
  const out = new Uint16Array(t.out);
  if (t.src === 'F16') out.set(new Uint16Array(raw.buffer, 0, t.count), t.at);
  else if (t.src === 'F32') ctx.lib.float32ToFloat16(new Float32Array(raw.buffer, 0, t.count), out, t.at);
  else {
    // bf16 has 65536 values, so fp16 rounding of each is one table lookup.
    const table = (g.__pickbanBf16ToF16 ??= Uint16Array.from({ length: 65536 }, (_, b) => ctx.lib.fp32BitsToFp16Bits(b << 16)));
    const bits = new Uint16Array(raw.buffer, 0, t.count);
    for (let i = 0; i < t.count; i++) out[t.at + i] = table[bits[i]];
  }
}
