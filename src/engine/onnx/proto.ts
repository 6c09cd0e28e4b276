/**
 * A small builder of ONNX graphs over onnx-proto's generated protobuf classes: nodes, constants
 * (initializers), inputs and outputs, then the encoded model bytes that ONNX Runtime loads.
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

const { FLOAT, INT64, DOUBLE } = onnx.TensorProto.DataType;
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

function attributeProto(name: string, value: Attribute): IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  if ('string' in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: AttributeType.TENSOR, t: value.tensor };
}

function floatTensor(name: string, values: Float32Array, dims: readonly number[]): ITensorProto {
  // raw_data: the bytes as they are, far faster to encode than a repeated float field.
  return {
    name,
    dataType: FLOAT,
    dims: [...dims],
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

function int64Tensor(name: string, values: readonly number[], dims: readonly number[]): ITensorProto {
  return { name, dataType: INT64, dims: [...dims], int64Data: [...values] };
}

function valueInfo(name: string, dims: readonly Dim[]): IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

/** Collects a graph's parts; values are referred to by name, and `op` returns its outputs' names. */
export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly used = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly scalars = new Map<number, string>();

  constructor(private readonly graphName: string) {}

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
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value));
    this.nodes.push({ opType: type, input: [...inputs], output: names, name: this.fresh(`node_${stem}`), attribute });
    return names;
  }

  /** A float32 constant. */
  floats(values: Float32Array | readonly number[], dims: readonly number[], stem = 'const'): string {
    const name = this.fresh(stem);
    this.initializers.push(
      floatTensor(name, values instanceof Float32Array ? values : Float32Array.from(values), dims),
    );
    return name;
  }

  /** A float32 scalar constant, shared between the nodes that use the same value. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (name === undefined) this.scalars.set(value, (name = this.floats([value], [], 'scalar')));
    return name;
  }

  /** A float64 scalar constant. */
  scalar64(value: number): string {
    const name = this.fresh('scalar64');
    this.initializers.push({ name, dataType: DOUBLE, dims: [], doubleData: [value] });
    return name;
  }

  /** An int64 constant (shapes, axes, pads, indices). */
  int64s(values: readonly number[], dims: readonly number[] = [values.length], stem = 'ints'): string {
    const name = this.fresh(stem);
    this.initializers.push(int64Tensor(name, values, dims));
    return name;
  }

  /** A float32 graph input. */
  input(name: string, dims: readonly Dim[]): string {
    this.reserve(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Makes the value `from` a graph output called `name` (through Identity when the names differ). */
  output(name: string, from: string, dims: readonly Dim[]): void {
    if (from !== name) this.reserve(name);
    if (from !== name)
      this.nodes.push({ opType: 'Identity', input: [from], output: [name], name: this.fresh(`node_${name}`) });
    this.outputs.push(valueInfo(name, dims));
  }

  /** The serialized ModelProto. */
  encode(): Uint8Array {
    const graph = {
      name: this.graphName,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
    const model = { irVersion: IR_VERSION, producerName: 'nst', opsetImport: [{ domain: '', version: OPSET }], graph };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
