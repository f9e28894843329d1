/**
 * Element conversions for the dtypes safetensors checkpoints use. Node 20 has no Float16Array,
 * so half and bfloat16 travel as raw uint16 bit patterns and are widened here. The functions
 * work on integer bit views (no float scratch per element) and are self-contained, so the
 * worker pool can ship them to threads as source (see worker-pool.ts).
 */

export const SAFETENSORS_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

export function isFloatDtype(dtype: string): dtype is SafetensorsDtype {
  return dtype in SAFETENSORS_DTYPES;
}

/** bf16 is the top half of an fp32, so widening is a shift. */
export function bf16ToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length), at = 0): Float32Array {
  const outBits = new Int32Array(out.buffer, out.byteOffset, out.length);
  const n = bits.length;
  for (let i = 0; i < n; i++) outBits[at + i] = bits[i] << 16;
  return out;
}

/** Round-to-nearest-even, as torch does when casting to bfloat16; NaN stays NaN. `out` may alias `values`' bytes. */
export function float32ToBf16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  const inBits = new Int32Array(values.buffer, values.byteOffset, values.length);
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = inBits[i];
    const hi = x >>> 16;
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = hi | 0x40;
    // hi + carry, with the carry computed on the low half alone so everything stays a small int.
    else out[i] = hi + (((x & 0xffff) + (hi & 1) + 0x7fff) >>> 16);
  }
  return out;
}

/**
 * fp32 bits to IEEE half bits, round to nearest even, with subnormals, inf and NaN: the results
 * of model/onnx's fp32ToFp16Bits, computed on the bits.
 */
export function fp32BitsToFp16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/** IEEE half bits to their value. */
export function fp16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** fp32 -> half bits for a whole array (the fast form of model/onnx's toFloat16). */
export function float32ToFloat16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length), at = 0): Uint16Array {
  const inBits = new Int32Array(values.buffer, values.byteOffset, values.length);
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = inBits[i];
    const a = x & 0x7fffffff;
    // Values that stay normal halves (nearly all weights): rebias the exponent and round to nearest
    // even on the 13 dropped bits without branches (2x faster than the general path, which
    // mispredicts on random low bits); a carry into the exponent rounds up to inf, as it should.
    if (a >= 0x38800000 && a < 0x47800000) out[at + i] = ((x >>> 16) & 0x8000) | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
    else out[at + i] = fp32BitsToFp16Bits(x);
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
  return Float32Array.from(bits, fp16BitsToNumber);
}

/** Encodes fp32 values as the raw bytes of `dtype`. */
export function fromFloat32(dtype: SafetensorsDtype, values: Float32Array): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === 'BF16') return new Uint8Array(float32ToBf16(values).buffer);
  return new Uint8Array(float32ToFloat16(values).buffer);
}
