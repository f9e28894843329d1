import { float32ToFloat16, fp32BitsToFp16Bits } from './dtypes.ts';
import { runKernel, sharedBuffer, threadCount, type KernelContext } from './worker-pool.ts';

/**
 * fp32 -> IEEE half bits for whole weight tensors, with the results of model/onnx's toFloat16
 * (round to nearest even) but on integer bit views, and spread over the worker pool when large:
 * the fp16 converter narrows ~14B values, which one thread of the per-value version takes minutes for.
 */

interface NarrowTask {
  src: SharedArrayBuffer;
  srcOffset: number;
  out: SharedArrayBuffer;
  at: number;
  count: number;
}
// float32ToFloat16 calls fp32BitsToFp16Bits, so the workers need both.
const NARROW_HELPERS = { float32ToFloat16, fp32BitsToFp16Bits };
function narrowChunk(t: NarrowTask, ctx: KernelContext<typeof NARROW_HELPERS>): void {
  ctx.lib.float32ToFloat16(new Float32Array(t.src, t.srcOffset + t.at * 4, t.count), new Uint16Array(t.out), t.at);
}

const PARALLEL_MIN_ELEMENTS = 1 << 20;
const CHUNK_ELEMENTS = 1 << 18;

export function toFloat16(values: Float32Array): Uint16Array {
  const n = values.length;
  if (threadCount() <= 1 || n < PARALLEL_MIN_ELEMENTS) return float32ToFloat16(values);
  let shared = values;
  if (!(values.buffer instanceof SharedArrayBuffer)) {
    shared = new Float32Array(sharedBuffer(n * 4));
    shared.set(values);
  }
  const out = new Uint16Array(sharedBuffer(n * 2));
  const tasks: NarrowTask[] = [];
  for (let at = 0; at < n; at += CHUNK_ELEMENTS) {
    tasks.push({ src: shared.buffer as SharedArrayBuffer, srcOffset: shared.byteOffset, out: out.buffer as SharedArrayBuffer, at, count: Math.min(CHUNK_ELEMENTS, n - at) });
  }
  runKernel('narrowChunk', narrowChunk, NARROW_HELPERS, tasks);
  return out;
}
