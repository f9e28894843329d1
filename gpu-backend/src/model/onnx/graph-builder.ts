import onnxProto from 'onnx-proto';
import { attributeProtos, type Attrs } from './attributes.ts';
import { ONNX_DTYPE_CODE, typedArrayFrom, type DType } from './dtypes.ts';
import { tensorProto, type TensorSource } from './tensor.ts';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;
export type GraphProto = InstanceType<typeof onnx.GraphProto>;

/**
 * A small typed ONNX graph builder (after onnxruntime-genai's builders/base.py).
 *
 *   const g = new GraphBuilder('qwen2_moe');
 *   const x = g.input('x', 'float32', ['N', 4]);
 *   const a = g.withPrefix('/model/layers.3/mlp');           // a scope: same graph, own name prefix
 *   const y = a.node('MatMul', [x, a.initializer('w', { dtype: 'float32', dims: [4, 2], data })]);
 *   const z = a.node('Add', [y, g.constF32(1)]);              // node '/model/layers.3/mlp/Add', value '.../Add/output_0'
 *   const [v, i] = a.node('TopK', [z, g.constI64([1])], { axis: 1 }, { outputs: 2 });
 *   g.output('z', 'float32', ['N', 2], z);                    // Identity into a named graph output
 *   const bytes = g.toModelBytes({ opsetVersion: 17 });       // com.microsoft opset added when used
 *
 * - Node names are `${prefix}/${opts.name ?? opType}`, made unique with `_1`, `_2`, ...; a node's
 *   outputs are `${nodeName}/output_${i}` unless `opts.outputs` names them.
 * - Graph inputs, outputs and initializers keep the exact names given (checkpoint names); a clash throws.
 * - Constants (`constF32`, `constI64`, ...) are deduplicated initializers of the root graph, so any
 *   scope or subgraph may use them.
 * - `subgraph(name, build)` returns a GraphProto for If/Loop attributes; its nodes may read
 *   outer-scope values. Returned values not produced inside the branch get an Identity.
 * - Scopes share only the append-only graph being built; nothing else is mutable.
 */
interface ModelState {
  valueNames: Set<string>;
  nodeNames: Set<string>;
  constants: Map<string, string>;
  domains: Set<string>;
  root: GraphState;
}
interface GraphState {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers: TensorProto[];
  produced: Set<string>;
}
export type Dim = number | string;
export interface NodeOptions {
  /** Last path component of the node name; default the op type. */
  name?: string;
  domain?: string;
}
export interface ModelOptions {
  /** Default-domain opset; default 17. */
  opsetVersion?: number;
  /** Force the com.microsoft opset import (added automatically when a node uses the domain). */
  msOpset?: boolean;
  producerName?: string;
}

const newGraph = (name: string): GraphState => ({ name, nodes: [], inputs: [], outputs: [], initializers: [], produced: new Set() });
const joinPath = (prefix: string, sub: string) => (sub.startsWith('/') ? sub : `${prefix}/${sub}`);

export function valueInfo(name: string, dtype?: DType, dims?: Dim[]): ValueInfoProto {
  if (!dtype) return onnx.ValueInfoProto.create({ name });
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: ONNX_DTYPE_CODE[dtype], shape } } });
}

export class GraphScope {
  protected constructor(
    protected readonly model: ModelState,
    protected readonly graph: GraphState,
    readonly prefix: string,
  ) {}

  /** A view of the same graph whose node names start with `prefix/sub` (or `sub` if it starts with '/'). */
  withPrefix(sub: string): GraphScope {
    return new GraphScope(this.model, this.graph, joinPath(this.prefix, sub));
  }

  input(name: string, dtype: DType, dims: Dim[]): string {
    this.claim(name);
    this.graph.inputs.push(valueInfo(name, dtype, dims));
    return name;
  }

  /** Declares a graph output; with `from`, an Identity copies that value into it. */
  output(name: string, dtype: DType, dims: Dim[], from?: string): string {
    if (from !== undefined) this.node('Identity', [from], undefined, { outputs: [name], name: `${name}/Identity` });
    else if (!this.model.valueNames.has(name)) throw new Error(`graph output '${name}' is not produced by any node`);
    this.graph.outputs.push(valueInfo(name, dtype, dims));
    return name;
  }

  initializer(name: string, tensor: TensorSource): string {
    this.claim(name);
    this.graph.initializers.push(tensorProto(name, tensor));
    return name;
  }

  node(opType: string, inputs: string[], attrs: Attrs | undefined, opts: NodeOptions & { outputs: number | string[] }): string[];
  node(opType: string, inputs: string[], attrs?: Attrs, opts?: NodeOptions): string;
  node(opType: string, inputs: string[], attrs?: Attrs, opts: NodeOptions & { outputs?: number | string[] } = {}): string | string[] {
    const name = this.uniqueNodeName(joinPath(this.prefix, opts.name ?? opType));
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${name}/output_${i}`);
    for (const o of outputs) if (o !== '') this.claim(o);
    for (const i of inputs) if (i !== '' && !this.model.valueNames.has(i)) throw new Error(`node '${name}': unknown input '${i}'`);
    if (opts.domain) this.model.domains.add(opts.domain);
    this.graph.nodes.push(
      onnx.NodeProto.create({ name, opType, domain: opts.domain ?? '', input: inputs, output: outputs, attribute: attributeProtos(attrs) }),
    );
    return opts.outputs === undefined ? outputs[0] : outputs;
  }

  /** A deduplicated constant initializer: a scalar for one number, a vector for an array, or `dims`. */
  constant(dtype: DType, values: number | readonly number[], dims?: number[]): string {
    const list = typeof values === 'number' ? [values] : [...values];
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    const key = `${dtype}|${shape.join('x')}|${list.join(',')}`;
    const known = this.model.constants.get(key);
    if (known) return known;
    const label = list.length <= 8 ? list.join('_') : `n${this.model.constants.size}`;
    const name = `/constants/${dtype}/${shape.join('x') || 'scalar'}/${label}`;
    this.claim(name, this.model.root);
    this.model.root.initializers.push(tensorProto(name, { dtype, dims: shape, data: typedArrayFrom(dtype, list) }));
    this.model.constants.set(key, name);
    return name;
  }
  constF32 = (v: number | readonly number[], dims?: number[]) => this.constant('float32', v, dims);
  constF16 = (v: number | readonly number[], dims?: number[]) => this.constant('float16', v, dims);
  constI64 = (v: number | readonly number[], dims?: number[]) => this.constant('int64', v, dims);
  constI32 = (v: number | readonly number[], dims?: number[]) => this.constant('int32', v, dims);
  constBool = (v: number | readonly number[], dims?: number[]) => this.constant('bool', v, dims);

  /** Builds a branch/body graph; `build` returns the values that become its outputs, in order. */
  subgraph(name: string, build: (scope: GraphScope) => string | string[]): GraphProto {
    const graph = newGraph(name);
    const scope = new GraphScope(this.model, graph, joinPath(this.prefix, name));
    const returned = build(scope);
    const outs = (Array.isArray(returned) ? returned : [returned]).map((v) =>
      // ONNX wants a subgraph's outputs produced inside it; pass-through of an outer value needs a copy.
      graph.produced.has(v) ? v : scope.node('Identity', [v], undefined, { name: 'PassThrough' }),
    );
    return onnx.GraphProto.create({ name, node: graph.nodes, initializer: graph.initializers, input: [], output: outs.map((o) => valueInfo(o)) });
  }

  /** Nodes of this graph (not subgraphs) whose name starts with `prefix`: for node-count budgets. */
  countNodes(prefix = this.prefix): number {
    return this.graph.nodes.filter((n) => (n.name ?? '').startsWith(prefix)).length;
  }

  protected claim(name: string, graph = this.graph): void {
    if (this.model.valueNames.has(name)) throw new Error(`value name '${name}' is already defined`);
    this.model.valueNames.add(name);
    graph.produced.add(name);
  }

  private uniqueNodeName(base: string): string {
    let name = base;
    for (let i = 1; this.model.nodeNames.has(name); i++) name = `${base}_${i}`;
    this.model.nodeNames.add(name);
    return name;
  }
}

/** The IR version that goes with a default-domain opset (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

export class GraphBuilder extends GraphScope {
  constructor(readonly name = 'main') {
    const root = newGraph(name);
    super({ valueNames: new Set(), nodeNames: new Set(), constants: new Map(), domains: new Set(), root }, root, '');
  }

  toModelProto(opts: ModelOptions = {}): InstanceType<typeof onnx.ModelProto> {
    const opsetVersion = opts.opsetVersion ?? 17;
    const opsetImport = [{ domain: '', version: opsetVersion }];
    if (opts.msOpset || this.model.domains.has('com.microsoft')) opsetImport.push({ domain: 'com.microsoft', version: 1 });
    const g = this.graph;
    return onnx.ModelProto.create({
      irVersion: irVersionFor(opsetVersion),
      producerName: opts.producerName ?? 'pickban',
      opsetImport,
      graph: { name: g.name, node: g.nodes, input: g.inputs, output: g.outputs, initializer: g.initializers },
    });
  }

  /** Serialized ModelProto. A graph with external initializers must be written next to its data file and loaded by path. */
  toModelBytes(opts: ModelOptions = {}): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(opts)).finish();
  }
}
