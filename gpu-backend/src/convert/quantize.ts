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

export function quantizeBlockwise(w: Float32Array, n: number, k: number, bits: QuantBits, blockSize: number): QuantizedWeight {
  const blocksPerRow = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocksPerRow * blobBytes);
  const scales = new Float32Array(n * blocksPerRow);
  const zero = 1 << (bits - 1);
  // Symmetric range [-(zero-1), zero-1]: the most negative code stays unused so +max and -max round alike.
  const qmax = zero - 1;
  const codes = new Uint8Array(blockSize);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const start = row * k + b * blockSize;
      const len = Math.min(blockSize, k - b * blockSize);
      let absMax = 0;
      for (let i = 0; i < len; i++) absMax = Math.max(absMax, Math.abs(w[start + i]));
      const scale = Math.fround(absMax / qmax);
      scales[row * blocksPerRow + b] = scale;
      const inv = scale === 0 ? 0 : 1 / scale;
      // Padding past K quantizes to code `zero`, i.e. exactly 0.
      codes.fill(zero);
      for (let i = 0; i < len; i++) codes[i] = zero + Math.max(-qmax, Math.min(qmax, Math.round(w[start + i] * inv)));
      const blob = (row * blocksPerRow + b) * blobBytes;
      if (bits === 8) packed.set(codes, blob);
      else for (let i = 0; i < blobBytes; i++) packed[blob + i] = codes[2 * i] | (codes[2 * i + 1] << 4);
    }
  }
  return { packed, scales, dims: { n, k, blocksPerRow, blobBytes } };
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
