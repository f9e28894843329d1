import { fp16BitsToNumber, fp32BitsToFp16Bits } from '../../checkpoint/dtypes.ts';
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

/**
 * One fp32 value to IEEE-754 half bits, round to nearest even, with subnormals, inf and NaN. The
 * bit-level conversion lives in checkpoint/dtypes.ts, self-contained so the converter's worker
 * pool can ship it to its threads as source text.
 */
export function fp32ToFp16Bits(value: number): number {
  f32[0] = value;
  return fp32BitsToFp16Bits(u32[0]);
}

/** IEEE half bits back to a JS number (tests and debugging). */
export const fp16BitsToFp32 = fp16BitsToNumber;

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
