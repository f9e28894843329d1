import { runKernel, sharedBuffer, threadCount, type KernelContext } from '../checkpoint/worker-pool.ts';

/**
 * Blockwise symmetric quantization in com.microsoft MatMulNBits' layout. A linear weight W [N, K]
 * (HF's [out, in]) is already what MatMulNBits wants for its B input: per output row n, K is cut
 * into blocks of `blockSize`, each stored as bits-wide unsigned codes (low nibble first for 4 bits)
 * with one fp32 scale. No zero_points input: the kernel's default zero point 2^(bits-1) makes the
 * codes symmetric around 0, so w ~ (code - 2^(bits-1)) * scale.
 */

export type QuantBits = 4 | 8;

export interface QuantizedWeight {
  /** [N, blocksPerRow, blockSize * bits / 8] */
  packed: Uint8Array;
  /** [N * blocksPerRow] */
  scales: Float32Array;
  dims: { n: number; k: number; blocksPerRow: number; blobBytes: number };
}

/**
 * Quantizes rows [rowStart, rowEnd) of `w` into `packed` / `scales` (laid out for all rows).
 * Self-contained: it runs in worker threads as source text (checkpoint/worker-pool.ts).
 */
export function quantizeRowRange(
  w: Float32Array, k: number, bits: number, blockSize: number, rowStart: number, rowEnd: number, packed: Uint8Array, scales: Float32Array,
): void {
  const blocksPerRow = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const zero = 1 << (bits - 1);
  // Symmetric range [-(zero-1), zero-1]: the most negative code stays unused so +max and -max round alike.
  const qmax = zero - 1;
  for (let row = rowStart; row < rowEnd; row++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const start = row * k + b * blockSize;
      const len = Math.min(blockSize, k - b * blockSize);
      let absMax = 0;
      for (let i = start; i < start + len; i++) {
        const a = Math.abs(w[i]);
        // `a !== a` keeps a NaN sticky, as Math.max would.
        if (a > absMax || a !== a) absMax = a;
      }
      const scale = Math.fround(absMax / qmax);
      scales[row * blocksPerRow + b] = scale;
      const inv = scale === 0 ? 0 : 1 / scale;
      const blob = (row * blocksPerRow + b) * blobBytes;
      // Padding past K quantizes to code `zero`, i.e. exactly 0; NaN codes store as 0, as before.
      // Rounding is Math.round's (half up), as floor(x + 0.5) corrected for the one way the
      // addition can round up to the next integer: V8's Math.round took 3x longer on real weights.
      if (bits === 8) {
        for (let i = 0; i < blockSize; i++) {
          const x = i < len ? w[start + i] * inv : 0;
          let q = Math.floor(x + 0.5);
          if (q - 0.5 > x) q -= 1;
          if (q > qmax) q = qmax;
          else if (q < -qmax) q = -qmax;
          packed[blob + i] = zero + q;
        }
      } else {
        for (let i = 0; i < blockSize; i += 2) {
          const xl = i < len ? w[start + i] * inv : 0;
          let lo = Math.floor(xl + 0.5);
          if (lo - 0.5 > xl) lo -= 1;
          if (lo > qmax) lo = qmax;
          else if (lo < -qmax) lo = -qmax;
          const xh = i + 1 < len ? w[start + i + 1] * inv : 0;
          let hi = Math.floor(xh + 0.5);
          if (hi - 0.5 > xh) hi -= 1;
          if (hi > qmax) hi = qmax;
          else if (hi < -qmax) hi = -qmax;
          packed[blob + (i >> 1)] = ((zero + lo) & 0xff) | ((zero + hi) << 4);
        }
      }
    }
  }
}

interface QuantizeTask {
  w: SharedArrayBuffer;
  wOffset: number;
  k: number;
  bits: number;
  blockSize: number;
  rowStart: number;
  rowEnd: number;
  packed: SharedArrayBuffer;
  scales: SharedArrayBuffer;
}
const QUANTIZE_HELPERS = { quantizeRowRange };
function quantizeTask(t: QuantizeTask, ctx: KernelContext<typeof QUANTIZE_HELPERS>): void {
  const n = t.rowEnd;
  const blocksPerRow = Math.ceil(t.k / t.blockSize);
  ctx.lib.quantizeRowRange(
    new Float32Array(t.w, t.wOffset, n * t.k), t.k, t.bits, t.blockSize, t.rowStart, t.rowEnd,
    new Uint8Array(t.packed, 0, (n * blocksPerRow * t.blockSize * t.bits) / 8), new Float32Array(t.scales, 0, n * blocksPerRow),
  );
}

/** Below this, quantization stays on the calling thread. */
const PARALLEL_MIN_ELEMENTS = 1 << 20;
/** Rows per task: a few hundred KB of input, enough tasks to balance 16 threads on a 1408-row expert. */
const ROWS_PER_TASK_TARGET_ELEMENTS = 1 << 16;

/**
 * Large weights are split by rows over the worker pool (results byte-identical to one thread);
 * their packed codes and scales then live in SharedArrayBuffers.
 */
export function quantizeBlockwise(w: Float32Array, n: number, k: number, bits: QuantBits, blockSize: number): QuantizedWeight {
  const blocksPerRow = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const dims = { n, k, blocksPerRow, blobBytes };
  if (threadCount() <= 1 || n * k < PARALLEL_MIN_ELEMENTS) {
    const packed = new Uint8Array(n * blocksPerRow * blobBytes);
    const scales = new Float32Array(n * blocksPerRow);
    quantizeRowRange(w, k, bits, blockSize, 0, n, packed, scales);
    return { packed, scales, dims };
  }
  let shared = w;
  if (!(w.buffer instanceof SharedArrayBuffer)) {
    shared = new Float32Array(sharedBuffer(n * k * 4));
    shared.set(w.subarray(0, n * k));
  }
  const packed = new Uint8Array(sharedBuffer(n * blocksPerRow * blobBytes));
  const scales = new Float32Array(sharedBuffer(n * blocksPerRow * 4));
  const rowsPerTask = Math.max(1, Math.floor(ROWS_PER_TASK_TARGET_ELEMENTS / k));
  const tasks: QuantizeTask[] = [];
  for (let r = 0; r < n; r += rowsPerTask) {
    tasks.push({
      w: shared.buffer as SharedArrayBuffer, wOffset: shared.byteOffset, k, bits, blockSize, rowStart: r, rowEnd: Math.min(n, r + rowsPerTask),
      packed: packed.buffer as SharedArrayBuffer, scales: scales.buffer as SharedArrayBuffer,
    });
  }
  runKernel('quantizeTask', quantizeTask, QUANTIZE_HELPERS, tasks);
  return { packed, scales, dims };
}

/** The fp32 weights MatMulNBits effectively multiplies by (for reference forwards in tests). */
export function dequantizeBlockwise(q: QuantizedWeight, bits: QuantBits, blockSize: number): Float32Array {
  const { n, k, blocksPerRow, blobBytes } = q.dims;
  const out = new Float32Array(n * k);
  const zero = 1 << (bits - 1);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const blob = (row * blocksPerRow + b) * blobBytes;
      const scale = q.scales[row * blocksPerRow + b];
      for (let i = 0; i < blockSize && b * blockSize + i < k; i++) {
        const code = bits === 8 ? q.packed[blob + i] : (q.packed[blob + (i >> 1)] >> ((i & 1) * 4)) & 0xf;
        out[row * k + b * blockSize + i] = (code - zero) * scale;
      }
    }
  }
  return out;
}
