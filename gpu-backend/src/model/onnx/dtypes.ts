/**
 * ONNX element types the builder emits, their TensorProto codes, byte sizes and the JS typed
 * arrays that carry them, plus fp32 -> fp16 conversion (Node 20 has no Float16Array, so fp16
 * data travels as Uint16Array of IEEE half bits).
 */
export const DTYPES = ['float32', 'float16', 'int8', 'uint8', 'int32', 'int64', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** onnx.TensorProto.DataType codes (stable across ONNX versions). */
export const ONNX_DTYPE_CODE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4,
  float16: 2,
  int8: 1,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** The typed array each dtype's data lives in (bool as 0/1 bytes, float16 as raw half bits). */
export type TypedArrayOf<T extends DType> = {
  float32: Float32Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}[T];
export type AnyTypedArray = TypedArrayOf<DType>;

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Little-endian bytes of a typed array without copying (every supported host is little-endian). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// Shared scratch for reinterpreting float bits; module-private and only used synchronously.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One fp32 value to IEEE-754 half bits, round to nearest even, with subnormals, inf and NaN. */
export function fp32ToFp16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to signed zero
    mant |= 0x800000; // make the implicit bit explicit, then shift into the subnormal range
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and may round up to inf).
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/** IEEE half bits back to a JS number (tests and debugging). */
export function fp16BitsToFp32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function toFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = fp32ToFp16Bits(values[i]);
  return out;
}

/** Builds the typed array for `dtype` from plain numbers (float16 converted, int64 as BigInt). */
export function typedArrayFrom<T extends DType>(dtype: T, values: ArrayLike<number>): TypedArrayOf<T> {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values) as TypedArrayOf<T>;
    case 'float16':
      return toFloat16(values) as TypedArrayOf<T>;
    case 'int8':
      return Int8Array.from(values) as TypedArrayOf<T>;
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values) as TypedArrayOf<T>;
    case 'int32':
      return Int32Array.from(values) as TypedArrayOf<T>;
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(v))) as TypedArrayOf<T>;
    default:
      throw new Error(`unsupported dtype ${dtype satisfies never}`);
  }
}
