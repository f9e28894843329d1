import { describe, expect, it } from 'vitest';
import { dequantizeBlockwise, quantizeBlockwise } from './quantize.ts';

describe('blockwise quantization (MatMulNBits layout)', () => {
  it('packs 4-bit codes low nibble first with the symmetric default zero point 8', () => {
    // One row, one block of 4 (block size 4 for readability): absmax 7 -> scale 1, codes = w + 8.
    const q = quantizeBlockwise(Float32Array.of(-7, 1, 0, 7), 1, 4, 4, 4);
    expect(Array.from(q.scales)).toEqual([1]);
    // codes [1, 9, 8, 15]: byte 0 = 1 | 9 << 4, byte 1 = 8 | 15 << 4.
    expect(Array.from(q.packed)).toEqual([0x91, 0xf8]);
    expect(Array.from(dequantizeBlockwise(q, 4, 4))).toEqual([-7, 1, 0, 7]);
  });

  it('stores 8-bit codes as bytes around 128 and pads a short last block with zeros', () => {
    const w = Float32Array.of(127, -127, 63.5, 1, 2);
    const q = quantizeBlockwise(w, 1, 5, 8, 4);
    expect(q.dims).toEqual({ n: 1, k: 5, blocksPerRow: 2, blobBytes: 4 });
    expect(Array.from(q.packed.subarray(0, 4))).toEqual([255, 1, 128 + 64, 129]);
    expect(Array.from(q.packed.subarray(4))).toEqual([255, 128, 128, 128]);
    expect(Array.from(dequantizeBlockwise(q, 8, 4))).toEqual([127, -127, 64, 1, 2]);
  });

  it('keeps every value within half a quantization step of the original, per row and block', () => {
    const n = 3;
    const k = 70;
    const w = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 7)));
    for (const bits of [4, 8] as const) {
      const q = quantizeBlockwise(w, n, k, bits, 32);
      const back = dequantizeBlockwise(q, bits, 32);
      for (let i = 0; i < w.length; i++) {
        const scale = q.scales[Math.floor(i / k) * q.dims.blocksPerRow + Math.floor((i % k) / 32)];
        expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(scale / 2 + 1e-6);
      }
    }
  });
});
