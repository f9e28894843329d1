import { fp16BitsToFp32, toFloat16 } from '../onnx/dtypes.ts';
import type { ExpectedTensor } from '../../checkpoint/tensor-names.ts';
import { dequantizeBlockwise, quantizeBlockwise } from '../../convert/quantize.ts';
import { QUANT_BLOCK_SIZE, storageOf } from '../../convert/weight-store.ts';
import type { WeightDtype } from '../contract.ts';
import type { WeightSource } from './forward.ts';

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
      if (storage === 'fp16') return Float32Array.from(toFloat16(w), fp16BitsToFp32);
      const bits = storage === 'int8' ? 8 : 4;
      const [n, k] = t!.shape;
      return dequantizeBlockwise(quantizeBlockwise(w, n, k, bits, QUANT_BLOCK_SIZE), bits, QUANT_BLOCK_SIZE);
    },
  };
}
