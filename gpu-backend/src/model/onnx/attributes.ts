import onnxProto from 'onnx-proto';
import { tensorProto, type InlineTensor } from './tensor.ts';

const { onnx } = onnxProto;
const T = onnx.AttributeProto.AttributeType;

/** Forces a FLOAT(S) attribute where the value happens to be an integer (e.g. `alpha: float(1)`). */
export interface FloatAttr {
  readonly kind: 'float';
  readonly value: number | number[];
}
export const float = (value: number | number[]): FloatAttr => ({ kind: 'float', value });

export type GraphAttr = InstanceType<typeof onnx.GraphProto>;

/**
 * Attribute values by JS type: integer number or bigint -> INT, other number -> FLOAT, string ->
 * STRING, number[] -> INTS (FLOATS if any is fractional), float(...) -> FLOAT(S), an inline tensor
 * -> TENSOR, a GraphProto (from `subgraph`) -> GRAPH.
 */
export type AttrValue = number | bigint | string | number[] | FloatAttr | InlineTensor | GraphAttr;
export type Attrs = Record<string, AttrValue | undefined>;

export function attributeProtos(attrs: Attrs | undefined): InstanceType<typeof onnx.AttributeProto>[] {
  const out: InstanceType<typeof onnx.AttributeProto>[] = [];
  for (const [name, v] of Object.entries(attrs ?? {})) {
    if (v === undefined) continue;
    out.push(onnx.AttributeProto.create({ name, ...encode(name, v) }));
  }
  return out;
}

function encode(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'bigint') return { type: T.INT, i: Number(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { type: T.INT, i: v } : { type: T.FLOAT, f: v };
  if (typeof v === 'string') return { type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return v.every(Number.isInteger) ? { type: T.INTS, ints: v } : { type: T.FLOATS, floats: v };
  if (v instanceof onnx.GraphProto) return { type: T.GRAPH, g: v };
  if ('kind' in v) return Array.isArray(v.value) ? { type: T.FLOATS, floats: v.value } : { type: T.FLOAT, f: v.value };
  if ('data' in v) return { type: T.TENSOR, t: tensorProto('', v) };
  throw new Error(`attribute '${name}': unsupported value`);
}
