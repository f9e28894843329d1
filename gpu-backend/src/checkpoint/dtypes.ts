import { fp16BitsToFp32, toFloat16 } from '../model/onnx/dtypes.ts';

/**
 * Element conversions for the dtypes safetensors checkpoints use. Node 20 has no Float16Array,
 * so half and bfloat16 travel as raw uint16 bit patterns and are widened here.
 */

export const SAFETENSORS_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

export function isFloatDtype(dtype: string): dtype is SafetensorsDtype {
  return dtype in SAFETENSORS_DTYPES;
}

/** bf16 is the top half of an fp32, so widening is a shift. */
export function bf16ToFloat32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

/** Round-to-nearest-even, as torch does when casting to bfloat16; NaN stays NaN. */
export function float32ToBf16(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i];
    if ((x & 0x7fffffff) > 0x7f800000) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Widens raw little-endian bytes of a float tensor to fp32. */
export function toFloat32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  // Typed views need element-aligned offsets; file slices may start anywhere, so copy those.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const bits = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
  if (dtype === 'BF16') return bf16ToFloat32(bits);
  return Float32Array.from(bits, fp16BitsToFp32);
}

/** Encodes fp32 values as the raw bytes of `dtype`. */
export function fromFloat32(dtype: SafetensorsDtype, values: Float32Array): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === 'BF16') return new Uint8Array(float32ToBf16(values).buffer);
  return new Uint8Array(toFloat16(values).buffer);
}
