import onnxProto from 'onnx-proto';
import { bytesOf, elementCount, ONNX_DTYPE_CODE, type AnyTypedArray, type DType } from './dtypes.ts';

const { onnx } = onnxProto;

/** Tensor data held in the graph file itself (small tensors, constants, tests). */
export interface InlineTensor {
  dtype: DType;
  dims: number[];
  /** Element data; float16 as half bits (Uint16Array), bool as 0/1 bytes. */
  data: AnyTypedArray;
}

/** Where a tensor's bytes live in an external data file (relative to the .onnx file). */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

/** Tensor data in an external file, as WeightWriter returns it plus dtype and dims. */
export interface ExternalTensor extends ExternalLocation {
  dtype: DType;
  dims: number[];
}

export type TensorSource = InlineTensor | ExternalTensor;

export const isExternal = (t: TensorSource): t is ExternalTensor => 'location' in t;

/** A TensorProto for an initializer or a `value`/TENSOR attribute; checks sizes so mistakes fail here, not in ORT. */
export function tensorProto(name: string, t: TensorSource): InstanceType<typeof onnx.TensorProto> {
  const count = elementCount(t.dims);
  if (isExternal(t)) {
    return onnx.TensorProto.create({
      name,
      dims: t.dims,
      dataType: ONNX_DTYPE_CODE[t.dtype],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: t.location },
        { key: 'offset', value: String(t.offset) },
        { key: 'length', value: String(t.length) },
      ],
    });
  }
  if (t.data.length !== count) {
    throw new Error(`tensor '${name}': ${t.data.length} elements given for dims [${t.dims.join(', ')}] (${count} expected)`);
  }
  return onnx.TensorProto.create({ name, dims: t.dims, dataType: ONNX_DTYPE_CODE[t.dtype], rawData: bytesOf(t.data) });
}
