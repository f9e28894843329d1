import { fp16BitsToFp32, toFloat16 } from '../onnx/dtypes.ts';
import type { ExpectedTensor } from '../../checkpoint/tensor-names.ts';
import { dequantizeBlockwise, quantizeBlockwise } from '../../convert/quantize.ts';
import { QUANT_BLOCK_SIZE, storageOf } from '../../convert/weight-store.ts';
import type { WeightDtype } from '../contract.ts';
import type { WeightSource } from './forward.ts';

/** fp32 values rounded to the nearest fp16 (ties to even); a tight loop, as the embedding table has ~10M values. */
export function roundToFp16(w: Float32Array): Float32Array {
  const out = new Float32Array(w);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const exp = (x >>> 23) & 0xff;
    // fp16 normals span fp32 exponents 113..142; there, fp16 keeps the top 10 of fp32's 23 mantissa bits.
    if (exp >= 113 && exp <= 141) bits[i] = ((x + 0xfff + ((x >>> 13) & 1)) & ~0x1fff) >>> 0;
    else out[i] = fp16BitsToFp32(toFloat16([out[i]])[0]);
  }
  return out;
}

/**
 * The fp32 values a converted model effectively computes with: each checkpoint tensor rounded
 * through its stored format (fp16, or blockwise int8/int4 and back). Running the reference on
 * these separates the graph's own error from the weight format's rounding.
 */
export function storedWeights(source: WeightSource, format: WeightDtype, expected: Map<string, ExpectedTensor>): WeightSource {
  return {
    readFloat32(name) {
      const w = source.readFloat32(name);
      const t = expected.get(name);
      const storage = t ? storageOf(t.role, format) : 'fp32';
      if (storage === 'fp32') return w;
      if (storage === 'fp16') return roundToFp16(w);
      const bits = storage === 'int8' ? 8 : 4;
      const [n, k] = t!.shape;
      return dequantizeBlockwise(quantizeBlockwise(w, n, k, bits, QUANT_BLOCK_SIZE), bits, QUANT_BLOCK_SIZE);
    },
  };
}
