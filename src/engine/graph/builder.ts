/**
 * A small builder of ONNX graphs over onnx-proto's generated protobuf classes: nodes, constants
 * (initializers), inputs and outputs, then the encoded model bytes that ONNX Runtime loads. It
 * keeps each value's element type and, where it follows from the op, its rank: the reverse pass
 * (autodiff.ts) reads them to write gradients of the same type and to undo broadcasting.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** The operator set the graphs are written for (its ops' attribute and input conventions). */
export const OPSET = 17;
/** IR version 8 is the newest this schema knows; ONNX Runtime reads it with any recent opset. */
const IR_VERSION = 8;

/** ONNX element types the graphs use. */
export const FLOAT = 1;
export const INT64 = 7;
export const BOOL = 9;
export const DOUBLE = 11;
export type ElementType = typeof FLOAT | typeof INT64 | typeof BOOL | typeof DOUBLE;

const AttributeType = onnx.AttributeProto.AttributeType;

/** A node attribute, tagged with its ONNX type so that 1 (int) and 1.0 (float) stay apart. */
export type Attribute =
  | { int: number }
  | { float: number }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { string: string }
  | { tensor: ITensorProto };

export const int = (value: number): Attribute => ({ int: value });
export const ints = (value: readonly number[]): Attribute => ({ ints: value });
export const float = (value: number): Attribute => ({ float: value });
export const string = (value: string): Attribute => ({ string: value });

/** A dimension: a fixed size, or a name for a size given at run time. */
export type Dim = number | string;

/** A node as the builder keeps it: what the reverse pass reads. */
export interface Node {
  readonly type: string;
  readonly inputs: readonly string[];
  readonly outputs: string[];
  readonly attributes: Readonly<Record<string, Attribute>>;
}

function attributeProto(name: string, value: Attribute): IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  if ('string' in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: AttributeType.TENSOR, t: value.tensor };
}

/** A value's type and shape (no shape: any rank). */
function valueInfo(name: string, dims: readonly Dim[] | undefined, type: ElementType): IValueInfoProto {
  if (!dims) return { name, type: { tensorType: { elemType: type } } };
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: type, shape: { dim } } } };
}

/** A constant's values as numbers, for the rules that need them (permutations, kernels, axes). */
export interface Constant {
  type: ElementType;
  dims: readonly number[];
  values: Float32Array | Float64Array | readonly number[];
}

const COMPARISONS = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not']);
const INTEGER_RESULTS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

/** Collects a graph's parts; values are referred to by name, and `op` returns its outputs' names. */
export class GraphBuilder {
  private readonly nodeList: Node[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly constantValues = new Map<string, Constant>();
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly used = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly scalars = new Map<string, string>();
  private readonly types = new Map<string, ElementType>();
  private readonly ranks = new Map<string, number>();

  constructor(private readonly graphName: string) {}

  /** The nodes so far, in the order written (a topological order). */
  get nodes(): readonly Node[] {
    return this.nodeList;
  }

  /** A name not used before, from a readable stem. */
  fresh(stem: string): string {
    let n = this.used.get(stem) ?? 0;
    let name = n === 0 ? stem : `${stem}_${n}`;
    while (this.names.has(name)) name = `${stem}_${++n}`;
    this.used.set(stem, n + 1);
    this.names.add(name);
    return name;
  }

  /** Claims an exact name (an input's or output's), which must be new. */
  private reserve(name: string): void {
    if (this.names.has(name)) throw new Error(`graph value ${name} is defined twice`);
    this.names.add(name);
  }

  /** A value's element type. */
  typeOf(value: string): ElementType {
    const type = this.types.get(value);
    if (type === undefined) throw new Error(`graph value ${value} is not defined`);
    return type;
  }

  /** A value's rank where it is known. */
  rankOf(value: string): number | undefined {
    return this.ranks.get(value);
  }

  /** A constant's values, or undefined when `value` is not a constant. */
  constant(value: string): Constant | undefined {
    return this.constantValues.get(value);
  }

  /** Adds a node with one output and returns that output's name. */
  op(
    type: string,
    inputs: readonly string[],
    attributes: Record<string, Attribute> = {},
    stem = type.toLowerCase(),
  ): string {
    return this.opN(type, inputs, 1, attributes, stem)[0]!;
  }

  /** Adds a node with `outputs` outputs and returns their names. */
  opN(
    type: string,
    inputs: readonly string[],
    outputs: number,
    attributes: Record<string, Attribute> = {},
    stem = type.toLowerCase(),
  ): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.fresh(i === 0 ? stem : `${stem}_out${i}`));
    const node: Node = { type, inputs: [...inputs], outputs: names, attributes };
    this.nodeList.push(node);
    names.forEach((name, i) => this.describe(node, name, i));
    return names;
  }

  /** Gives a node written earlier one more output (MaxPool's indices, for its gradient). */
  addOutput(node: Node, stem: string): string {
    if (!this.nodeList.includes(node)) throw new Error(`node ${node.type} is not in this graph`);
    const name = this.fresh(stem);
    node.outputs.push(name);
    this.describe(node, name, node.outputs.length - 1);
    return name;
  }

  /**
   * Puts the nodes `build` writes in the place of `node` (one output), the value `build` returns
   * (the last written node's output) taking the node's output name: a lowering of a node into
   * others after the graph is written, readers unchanged.
   */
  replace(node: Node, build: () => string): void {
    const at = this.nodeList.indexOf(node);
    if (at < 0 || node.outputs.length !== 1) throw new Error(`node ${node.type} cannot be replaced`);
    const start = this.nodeList.length;
    const result = build();
    const written = this.nodeList.splice(start);
    const last = written.at(-1);
    if (!last || last.outputs[0] !== result) throw new Error(`a replacement of ${node.type} must end in its result`);
    last.outputs[0] = node.outputs[0]!;
    this.nodeList.splice(at, 1, ...written);
  }

  /** Records an output's type and rank. */
  private describe(node: Node, name: string, index: number): void {
    const { type, inputs, attributes } = node;
    this.types.set(name, this.outputType(type, inputs, attributes, index));
    const rank = this.outputRank(type, inputs, attributes);
    if (rank !== undefined) this.ranks.set(name, rank);
  }

  private outputType(type: string, inputs: readonly string[], a: Record<string, Attribute>, index: number) {
    if (type === 'Cast') return (a['to'] as { int: number }).int as ElementType;
    if (type === 'CastLike') return this.typeOf(inputs[1]!);
    if (INTEGER_RESULTS.has(type) || (type === 'MaxPool' && index === 1)) return INT64;
    if (COMPARISONS.has(type)) return BOOL;
    if (type === 'Where') return this.typeOf(inputs[1]!);
    if (type === 'ConstantOfShape') {
      const value = a['value'] as { tensor: ITensorProto } | undefined;
      return (value?.tensor.dataType ?? FLOAT) as ElementType;
    }
    return this.typeOf(inputs[0]!);
  }

  /** The rank of an op's outputs from its inputs' ranks, where it follows without their sizes. */
  private outputRank(type: string, inputs: readonly string[], a: Record<string, Attribute>): number | undefined {
    const rank = (i: number) => (inputs[i] ? this.ranks.get(inputs[i]!) : undefined);
    const known = inputs.filter((x) => x !== '').map((x) => this.ranks.get(x));
    const reduced = (axes: number | undefined, keep: boolean) => {
      const r = rank(0);
      if (r === undefined) return undefined;
      if (keep) return r;
      return axes === undefined ? 0 : r - axes;
    };
    const keepdims = (a['keepdims'] as { int: number } | undefined)?.int !== 0;
    switch (type) {
      case 'Shape':
      case 'NonZero':
        return type === 'Shape' ? 1 : 2;
      case 'Size':
        return 0;
      case 'Reshape':
      case 'ConstantOfShape':
      case 'Expand': {
        const shape = this.constantValues.get(inputs[type === 'ConstantOfShape' ? 0 : 1]!);
        if (!shape) return undefined;
        const r = shape.values.length;
        return type === 'Expand' ? Math.max(r, rank(0) ?? r) : r;
      }
      case 'ReduceSum': {
        const axes = inputs[1] ? this.constantValues.get(inputs[1])?.values.length : undefined;
        if (inputs[1] && axes === undefined) return undefined;
        return reduced(axes, keepdims);
      }
      case 'ReduceMean':
      case 'ReduceMax': {
        const axes = a['axes'] as { ints: readonly number[] } | undefined;
        return reduced(axes?.ints.length, keepdims);
      }
      case 'Gather': {
        const indices = rank(1);
        return rank(0) === undefined || indices === undefined ? undefined : rank(0)! + indices - 1;
      }
      case 'Unsqueeze': {
        const axes = this.constantValues.get(inputs[1]!);
        return rank(0) === undefined || !axes ? undefined : rank(0)! + axes.values.length;
      }
      case 'Squeeze': {
        const axes = inputs[1] ? this.constantValues.get(inputs[1]) : undefined;
        return rank(0) === undefined || !axes ? undefined : rank(0)! - axes.values.length;
      }
      default:
        // Elementwise with broadcasting, and every op whose output has its first input's rank.
        return known.some((r) => r === undefined) || known.length === 0 ? undefined : Math.max(...(known as number[]));
    }
  }

  private addConstant(tensor: ITensorProto, constant: Constant): string {
    this.initializers.push(tensor);
    this.constantValues.set(tensor.name!, constant);
    this.types.set(tensor.name!, constant.type);
    this.ranks.set(tensor.name!, constant.dims.length);
    return tensor.name!;
  }

  /** A float32 constant. */
  floats(values: Float32Array | readonly number[], dims: readonly number[], stem = 'const'): string {
    return this.constantOf(FLOAT, values, dims, stem);
  }

  /** A float32 or float64 constant (raw bytes: far faster to encode than a repeated field). */
  constantOf(
    type: typeof FLOAT | typeof DOUBLE,
    values: ArrayLike<number>,
    dims: readonly number[],
    stem = 'const',
  ): string {
    const array = type === FLOAT ? Float32Array.from(values) : Float64Array.from(values);
    const rawData = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    return this.addConstant(
      { name: this.fresh(stem), dataType: type, dims: [...dims], rawData },
      { type, dims, values: array },
    );
  }

  /** A scalar constant of a float type, shared between the nodes that use the same value. */
  scalarOf(value: number, type: ElementType = FLOAT): string {
    if (type !== FLOAT && type !== DOUBLE) throw new Error(`no ${type} scalar constants`);
    const key = `${type}:${value}`;
    let name = this.scalars.get(key);
    if (name === undefined) this.scalars.set(key, (name = this.constantOf(type, [value], [], 'scalar')));
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.scalarOf(value, FLOAT);
  }

  /** A float64 scalar constant. */
  scalar64(value: number): string {
    return this.scalarOf(value, DOUBLE);
  }

  /** An int64 constant (shapes, axes, pads, indices). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length], stem = 'ints'): string {
    const name = this.fresh(stem);
    const tensor = { name, dataType: INT64, dims: [...dims], int64Data: [...values] };
    return this.addConstant(tensor, { type: INT64, dims, values: [...values] });
  }

  /** A graph input (float32 unless told). */
  input(name: string, dims: readonly Dim[], type: ElementType = FLOAT): string {
    this.reserve(name);
    this.inputs.push(valueInfo(name, dims, type));
    this.types.set(name, type);
    this.ranks.set(name, dims.length);
    return name;
  }

  /** Makes the value `from` a graph output called `name` (through Identity when the names differ); no dims: any shape. */
  output(name: string, from: string, dims?: readonly Dim[]): void {
    if (from !== name) {
      this.reserve(name);
      this.op('Identity', [from], {}, `${name}_identity`);
      // The Identity's output takes the exact name.
      const node = this.nodeList.at(-1)!;
      this.types.set(name, this.typeOf(from));
      node.outputs[0] = name;
    }
    this.outputs.push(valueInfo(name, dims, this.typeOf(name)));
  }

  /** The serialized ModelProto. */
  encode(): Uint8Array {
    const node: INodeProto[] = this.nodeList.map((n, i) => ({
      opType: n.type,
      input: [...n.inputs],
      output: [...n.outputs],
      name: `node_${i}_${n.outputs[0]}`,
      attribute: Object.entries(n.attributes).map(([name, value]) => attributeProto(name, value)),
    }));
    // Constants no node reads (a replaced node's kernel) stay out of the model.
    const read = new Set(this.nodeList.flatMap((n) => n.inputs));
    const graph = {
      name: this.graphName,
      node,
      initializer: this.initializers.filter((t) => read.has(t.name!)),
      input: this.inputs,
      output: this.outputs,
    };
    const model = { irVersion: IR_VERSION, producerName: 'nst', opsetImport: [{ domain: '', version: OPSET }], graph };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
