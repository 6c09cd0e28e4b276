/**
 * The reverse-mode rule of each ONNX operator the objective uses: from the gradients w.r.t. a
 * node's outputs (dy), the gradients w.r.t. the inputs that need one, written as more nodes of
 * the same graph. A rule handles the forms the objective writes (constant kernels, pooling windows
 * equal to their strides, unit steps) and throws on any other, naming what it lacks.
 */
import { DOUBLE, FLOAT, INT64, int, ints, string, type Attribute, type GraphBuilder, type Node } from './builder.js';

/** How some gradients are written; the defaults are the fastest measured (bench/README.md). */
export interface Tuning {
  /** A convolution's input gradient as a Conv with the flipped kernel, or a ConvTranspose. */
  backwardConv?: 'conv' | 'convTranspose';
  /** The ReLU mask as Where(y > 0, dy, 0) or Sign(y)·dy. */
  reluMask?: 'where' | 'sign';
  /**
   * Max pooling's gradient scattered by MaxPool's Indices output (the CPU's fastest), or routed by
   * a mask of the window maxima ('mask': for execution providers without Indices, WebGPU's).
   */
  maxPoolGradient?: 'indices' | 'mask';
}

export interface RuleContext {
  g: GraphBuilder;
  node: Node;
  /** The gradient w.r.t. each output (null where none flows). */
  dy: readonly (string | null)[];
  /** Which inputs depend on the values being differentiated for. */
  needs: readonly boolean[];
  tuning: Tuning;
}

/** The gradients w.r.t. the node's inputs (null or absent for those not needed or with none). */
type Rule = (c: RuleContext) => (string | null)[];

const attr = <T extends Attribute>(node: Node, name: string) => node.attributes[name] as T | undefined;
const intAttr = (node: Node, name: string, fallback: number) => attr<{ int: number }>(node, name)?.int ?? fallback;
const intsAttr = (node: Node, name: string) => attr<{ ints: readonly number[] }>(node, name)?.ints;
const scalarLike = (g: GraphBuilder, value: number, like: string) => g.scalarOf(value, g.typeOf(like));

function refuse(node: Node, what: string): never {
  throw new Error(`no gradient rule for ${node.type} ${what} (it computes ${node.outputs[0]})`);
}

function knownRank(g: GraphBuilder, node: Node, value: string): number {
  const rank = g.rankOf(value);
  if (rank === undefined) refuse(node, `on a value of unknown rank (${value})`);
  return rank;
}

/** Integer constant values of an input, or a refusal. */
function constantInts(g: GraphBuilder, node: Node, value: string, what: string): number[] {
  const c = g.constant(value);
  if (!c || c.type !== INT64) refuse(node, `with ${what} that is not an int64 constant`);
  return [...c.values];
}

/**
 * Sums a gradient over the axes along which `x` was broadcast, back to x's shape (the axes are
 * found from the shapes at run time, so it holds for sizes given at run time).
 */
export function unbroadcast(g: GraphBuilder, d: string, x: string): string {
  if (g.rankOf(x) === 0) return g.op('ReduceSum', [d], { keepdims: int(0) }, 'unbroadcast');
  const sx = g.op('Shape', [x]);
  const sd = g.op('Shape', [d]);
  const extra = g.op('Sub', [g.op('Size', [sd]), g.op('Size', [sx])]);
  const ones = g.op('ConstantOfShape', [g.op('Reshape', [extra, g.int64s([1])])], {
    value: { tensor: { dims: [1], dataType: INT64, int64Data: [1] } },
  });
  const padded = g.op('Concat', [ones, sx], { axis: int(0) });
  const one = g.int64s([1], []);
  const broadcast = g.op('And', [g.op('Equal', [padded, one]), g.op('Not', [g.op('Equal', [sd, one])])]);
  const axes = g.op('Reshape', [g.op('NonZero', [broadcast]), g.int64s([-1])]);
  const summed = g.op('ReduceSum', [d, axes], { keepdims: int(1), noop_with_empty_axes: int(1) }, 'unbroadcast');
  return g.op('Reshape', [summed, sx], {}, 'unbroadcast');
}

/** Computes the gradient of input i only when it is needed. */
const each = (c: RuleContext, grads: ((x: string) => string | null)[]) =>
  c.node.inputs.map((x, i) => (c.needs[i] && grads[i] ? grads[i]!(x) : null));

const elementwise: Record<string, Rule> = {
  Identity: (c) => [c.dy[0]!],
  Neg: ({ g, dy }) => [g.op('Neg', [dy[0]!])],
  Add: (c) => each(c, [(a) => unbroadcast(c.g, c.dy[0]!, a), (b) => unbroadcast(c.g, c.dy[0]!, b)]),
  Sub: (c) => each(c, [(a) => unbroadcast(c.g, c.dy[0]!, a), (b) => unbroadcast(c.g, c.g.op('Neg', [c.dy[0]!]), b)]),
  Sum: (c) => c.node.inputs.map((x, i) => (c.needs[i] ? unbroadcast(c.g, c.dy[0]!, x) : null)),
  Mul: (c) => {
    const { g, node, dy } = c;
    const [a, b] = node.inputs as [string, string];
    return each(c, [
      () => unbroadcast(g, g.op('Mul', [dy[0]!, b]), a),
      () => unbroadcast(g, g.op('Mul', [dy[0]!, a]), b),
    ]);
  },
  Div: (c) => {
    const { g, node, dy } = c;
    const [a, b] = node.inputs as [string, string];
    const y = node.outputs[0]!;
    return each(c, [
      () => unbroadcast(g, g.op('Div', [dy[0]!, b]), a),
      () => unbroadcast(g, g.op('Neg', [g.op('Div', [g.op('Mul', [dy[0]!, y]), b])]), b),
    ]);
  },
  Abs: ({ g, node, dy }) => [g.op('Mul', [dy[0]!, g.op('Sign', [node.inputs[0]!])])],
  Sign: () => [null],
  Sqrt: ({ g, node, dy }) => {
    const y = node.outputs[0]!;
    return [g.op('Div', [g.op('Mul', [dy[0]!, scalarLike(g, 0.5, y)]), y])];
  },
  Pow: (c) => {
    const { g, node, dy } = c;
    const [x, p] = node.inputs as [string, string];
    if (c.needs[1]) refuse(node, 'w.r.t. its exponent');
    const power = g.op('Pow', [x, g.op('Sub', [p, scalarLike(g, 1, p)])]);
    return [unbroadcast(g, g.op('Mul', [dy[0]!, g.op('Mul', [p, power])]), x), null];
  },
  Exp: ({ g, node, dy }) => [g.op('Mul', [dy[0]!, node.outputs[0]!])],
  Log: ({ g, node, dy }) => [g.op('Div', [dy[0]!, node.inputs[0]!])],
  Relu: ({ g, node, dy, tuning }) => {
    const y = node.outputs[0]!;
    if (tuning.reluMask === 'sign') return [g.op('Mul', [dy[0]!, g.op('Sign', [y])], {}, 'relu_dx')];
    const zero = scalarLike(g, 0, y);
    return [g.op('Where', [g.op('Greater', [y, zero]), dy[0]!, zero], {}, 'relu_dx')];
  },
  Cast: ({ g, node, dy }) => [g.op('CastLike', [dy[0]!, node.inputs[0]!])],
  CastLike: ({ g, node, dy }) => [g.op('CastLike', [dy[0]!, node.inputs[0]!]), null],
  Where: (c) => {
    const { g, node, dy } = c;
    const [condition] = node.inputs as [string];
    const zero = scalarLike(g, 0, dy[0]!);
    return each(c, [
      () => null,
      (a) => unbroadcast(g, g.op('Where', [condition, dy[0]!, zero]), a),
      (b) => unbroadcast(g, g.op('Where', [condition, zero, dy[0]!]), b),
    ]);
  },
};

/** The permutation that undoes `perm`. */
const inverse = (perm: readonly number[]) => perm.map((_, i) => perm.indexOf(i));

const shaping: Record<string, Rule> = {
  Transpose: ({ g, node, dy }) => {
    const perm = intsAttr(node, 'perm');
    return [g.op('Transpose', [dy[0]!], perm ? { perm: ints(inverse(perm)) } : {})];
  },
  Reshape: ({ g, node, dy }) => [g.op('Reshape', [dy[0]!, g.op('Shape', [node.inputs[0]!])]), null],
  Squeeze: ({ g, node, dy }) => [g.op('Reshape', [dy[0]!, g.op('Shape', [node.inputs[0]!])]), null],
  Unsqueeze: ({ g, node, dy }) => [g.op('Reshape', [dy[0]!, g.op('Shape', [node.inputs[0]!])]), null],
  Flatten: ({ g, node, dy }) => [g.op('Reshape', [dy[0]!, g.op('Shape', [node.inputs[0]!])])],
  Expand: ({ g, node, dy }) => [unbroadcast(g, dy[0]!, node.inputs[0]!), null],
  Slice: ({ g, node, dy }) => {
    const [x, starts, , axesInput, steps] = node.inputs as [string, string, string, string?, string?];
    const rank = knownRank(g, node, x);
    const from = constantInts(g, node, starts, 'starts');
    const axes = axesInput ? constantInts(g, node, axesInput, 'axes') : from.map((_, i) => i);
    if (steps && constantInts(g, node, steps, 'steps').some((s) => s !== 1)) refuse(node, 'with steps other than 1');
    const start = new Array<number>(rank).fill(0);
    axes.forEach((a, i) => (start[(a + rank) % rank] = from[i]!));
    // Where a slice begins: a start clamped to [0, dim], a negative one counted from the end.
    const dims = g.op('Shape', [x]);
    const s = g.int64s(start);
    const zeros = g.int64s(start.map(() => 0));
    const fromEnd = g.op('Max', [g.op('Add', [dims, s]), zeros]);
    const begin = g.op('Where', [g.op('Less', [s, zeros]), fromEnd, g.op('Min', [s, dims])]);
    const end = g.op('Sub', [g.op('Sub', [dims, begin]), g.op('Shape', [dy[0]!])]);
    const pads = g.op('Concat', [begin, end], { axis: int(0) });
    return [g.op('Pad', [dy[0]!, pads], {}, 'slice_dx'), null, null, null, null];
  },
  Pad: ({ g, node, dy }) => {
    const [x, pads] = node.inputs as [string, string];
    if ((attr<{ string: string }>(node, 'mode')?.string ?? 'constant') !== 'constant')
      refuse(node, 'other than constant');
    const constant = g.constant(pads);
    if (constant && [...constant.values].some((p) => p < 0)) refuse(node, 'with negative pads');
    const rank = knownRank(g, node, x);
    const part = (a: number, b: number) => g.op('Slice', [pads, g.int64s([a]), g.int64s([b]), g.int64s([0])]);
    const ends = g.op('Sub', [g.op('Shape', [dy[0]!]), part(rank, 2 * rank)]);
    return [g.op('Slice', [dy[0]!, part(0, rank), ends], {}, 'pad_dx'), null, null];
  },
  Concat: ({ g, node, dy }) => {
    const rank = knownRank(g, node, node.outputs[0]!);
    const axis = (intAttr(node, 'axis', 0) + rank) % rank;
    const sizes = node.inputs.map((x) => g.op('Gather', [g.op('Shape', [x]), g.int64s([axis])], { axis: int(0) }));
    const split = g.op('Concat', sizes, { axis: int(0) });
    return g.opN('Split', [dy[0]!, split], node.inputs.length, { axis: int(axis) }, 'concat_dx');
  },
  Gather: ({ g, node, dy }) => {
    const [, indices] = node.inputs as [string, string];
    const values = constantInts(g, node, indices, 'indices');
    const isPermutation = [...values].sort((a, b) => a - b).every((v, i) => v === i);
    if (g.constant(indices)!.dims.length !== 1 || !isPermutation) refuse(node, 'on indices other than a permutation');
    return [g.op('Gather', [dy[0]!, g.int64s(inverse(values))], { axis: int(intAttr(node, 'axis', 0)) }), null];
  },
};

/** Swaps the last two axes of a value of rank r. */
function transposeLast(g: GraphBuilder, x: string, rank: number): string {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return g.op('Transpose', [x], { perm: ints(perm) });
}

/** The node that computes `value`, if any. */
const producer = (g: GraphBuilder, value: string) => g.nodes.find((n) => n.outputs.includes(value));

const linear: Record<string, Rule> = {
  MatMul: (c) => {
    const { g, node, dy, needs } = c;
    const [a, b] = node.inputs as [string, string];
    const [ra, rb] = [knownRank(g, node, a), knownRank(g, node, b)];
    if (ra < 2 || rb < 2) refuse(node, 'on vectors');
    // A Gram matrix A·Aᵀ: dA = (dY + dYᵀ)·A, one product instead of two.
    const t = producer(g, b);
    if (ra === 2 && t?.type === 'Transpose' && t.inputs[0] === a && needs[0]) {
      const symmetric = g.op('Add', [dy[0]!, transposeLast(g, dy[0]!, 2)], {}, 'gram_dy_sym');
      return [g.op('MatMul', [symmetric, a], {}, 'gram_dx'), null];
    }
    return each(c, [
      () => unbroadcast(g, g.op('MatMul', [dy[0]!, transposeLast(g, b, rb)]), a),
      () => unbroadcast(g, g.op('MatMul', [transposeLast(g, a, ra), dy[0]!]), b),
    ]);
  },
  Gemm: (c) => {
    const { g, node, dy } = c;
    const [a, b, cIn] = node.inputs as [string, string, string?];
    const alpha = attr<{ float: number }>(node, 'alpha')?.float ?? 1;
    const beta = attr<{ float: number }>(node, 'beta')?.float ?? 1;
    const [ta, tb] = [intAttr(node, 'transA', 0), intAttr(node, 'transB', 0)];
    const gemm = (x: string, y: string, transA: number, transB: number) =>
      g.op('Gemm', [x, y], { alpha: { float: alpha }, transA: int(transA), transB: int(transB) });
    return each(c, [
      () => (ta ? gemm(b, dy[0]!, tb, 1) : gemm(dy[0]!, b, 0, 1 - tb)),
      () => (tb ? gemm(dy[0]!, a, 1, ta) : gemm(a, dy[0]!, 1 - ta, 0)),
      () => unbroadcast(g, g.op('Mul', [dy[0]!, scalarLike(g, beta, cIn!)]), cIn!),
    ]);
  },
};

/** A kernel [out, in, kh, kw] flipped in space with its channels swapped: [in, out, kh, kw]. */
export function flippedKernel(values: ArrayLike<number>, [cout, cin, kh, kw]: readonly number[]): Float64Array {
  const out = new Float64Array(values.length);
  for (let o = 0; o < cout!; o++) {
    for (let i = 0; i < cin!; i++) {
      for (let y = 0; y < kh!; y++) {
        for (let x = 0; x < kw!; x++)
          out[((i * cout! + o) * kh! + (kh! - 1 - y)) * kw! + (kw! - 1 - x)] =
            values[((o * cin! + i) * kh! + y) * kw! + x]!;
      }
    }
  }
  return out;
}

/** A window's size, checked to be a non-overlapping pooling without pads. */
function poolingWindow(node: Node): number[] {
  const kernel = intsAttr(node, 'kernel_shape')!;
  const strides = intsAttr(node, 'strides') ?? kernel.map(() => 1);
  const pads = intsAttr(node, 'pads') ?? [];
  if (kernel.some((k, i) => k !== strides[i]) || pads.some((p) => p !== 0) || intAttr(node, 'ceil_mode', 0))
    refuse(node, 'with windows that are not its strides, pads or ceil_mode');
  return [...kernel];
}

/** Resize's attributes that repeat each value over its window (nearest, from the window's corner). */
const NEAREST = {
  mode: string('nearest'),
  coordinate_transformation_mode: string('asymmetric'),
  nearest_mode: string('floor'),
};

/** Each value of a pooled map repeated over its window (the pooled-over grid, dropped rows excepted). */
const spreadOver = (g: GraphBuilder, v: string, window: readonly number[]) =>
  g.op('Resize', [v, '', g.floats([1, 1, ...window], [2 + window.length], 'pool_scales')], NEAREST, 'pool_spread');

/** Pads a spread gradient with zeros where the pooling dropped rows and columns (sizes at run time). */
function padDropped(g: GraphBuilder, spread: string, x: string, window: readonly number[]): string {
  const rest = g.op('Sub', [g.op('Shape', [x]), g.op('Shape', [spread])]);
  return g.op('Pad', [spread, g.op('Concat', [g.int64s([0, 0, ...window.map(() => 0)]), rest], { axis: int(0) })]);
}

const network: Record<string, Rule> = {
  Conv: ({ g, node, dy, needs, tuning }) => {
    const [x, kernel] = node.inputs as [string, string];
    if (needs[1] || needs[2]) refuse(node, 'w.r.t. its kernel or bias');
    const shape = intsAttr(node, 'kernel_shape')!;
    const pads = intsAttr(node, 'pads') ?? shape.flatMap(() => [0, 0]);
    const unit = (name: string) => (intsAttr(node, name) ?? []).every((s) => s === 1);
    if (!unit('strides') || !unit('dilations') || intAttr(node, 'group', 1) !== 1)
      refuse(node, 'with strides, dilations or groups');
    const k = shape.length;
    if (tuning.backwardConv === 'convTranspose') {
      const attributes = { kernel_shape: ints(shape), pads: ints(pads) };
      return [g.op('ConvTranspose', [dy[0]!, kernel], attributes, `${x}_dx`), null, null];
    }
    const w = g.constant(kernel);
    if (!w || w.type === INT64) refuse(node, 'with a kernel that is not a constant');
    const flipped = g.constantOf(
      w.type as typeof FLOAT,
      flippedKernel(w.values, w.dims),
      [w.dims[1]!, w.dims[0]!, ...w.dims.slice(2)],
      `${kernel}_back`,
    );
    const back = pads.map((p, i) => shape[i % k]! - 1 - p);
    const attributes = { kernel_shape: ints(shape), pads: ints(back) };
    return [g.op('Conv', [dy[0]!, flipped], attributes, 'conv_dx'), null, null];
  },
  AveragePool: ({ g, node, dy }) => {
    const x = node.inputs[0]!;
    const window = poolingWindow(node);
    const spread = spreadOver(g, dy[0]!, window);
    const share = g.op('Mul', [spread, scalarLike(g, 1 / window.reduce((a, b) => a * b, 1), x)]);
    return [padDropped(g, share, x, window)];
  },
  MaxPool: ({ g, node, dy, tuning }) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const window = poolingWindow(node);
    if (tuning.maxPoolGradient === 'mask') {
      // dy to the positions equal to their window's maximum (a tie of two positive maxima, which
      // random inputs never make, would give dy to both).
      const spread = (v: string) => spreadOver(g, v, window);
      const maxima = spread(y);
      const covered = g.op('Slice', [x, g.int64s([0, 0, 0, 0]), g.op('Shape', [maxima])]);
      const zero = scalarLike(g, 0, x);
      const routed = g.op('Where', [g.op('Equal', [covered, maxima]), spread(dy[0]!), zero], {}, 'maxpool_dx');
      return [padDropped(g, routed, x, window)];
    }
    // MaxPool's Indices: each window's first maximum, flat over the whole input (row-major).
    const indices = node.outputs[1] ?? g.addOutput(node, `${y}_argmax`);
    const flat = g.int64s([-1]);
    const count = g.op('Reshape', [g.op('Size', [x]), g.int64s([1])]);
    const type = g.typeOf(x);
    const zero = type === DOUBLE ? { doubleData: [0] } : { floatData: [0] };
    const zeros = g.op('ConstantOfShape', [count], { value: { tensor: { dims: [1], dataType: type, ...zero } } });
    const update = g.op('Reshape', [dy[0]!, flat]);
    const scattered = g.op('ScatterElements', [zeros, g.op('Reshape', [indices, flat]), update], { axis: int(0) });
    return [g.op('Reshape', [scattered, g.op('Shape', [x])], {}, 'maxpool_dx')];
  },
};

/** Reductions: the gradient spread back over the reduced axes (and divided by their size for a mean). */
function reduction(mean: boolean): Rule {
  return ({ g, node, dy }) => {
    const x = node.inputs[0]!;
    const axes = mean
      ? intsAttr(node, 'axes')
      : node.inputs[1]
        ? constantInts(g, node, node.inputs[1], 'axes')
        : undefined;
    if (intAttr(node, 'noop_with_empty_axes', 0)) refuse(node, 'with noop_with_empty_axes');
    let d = dy[0]!;
    if (axes && intAttr(node, 'keepdims', 1) === 0) {
      const rank = knownRank(g, node, x);
      d = g.op('Unsqueeze', [d, g.int64s(axes.map((a) => (a + rank) % rank).sort((a, b) => a - b))]);
    }
    const spread = g.op('Expand', [d, g.op('Shape', [x])], {}, 'reduce_dx');
    if (!mean) return [spread, null];
    const count = g.op('Div', [g.op('Size', [x]), g.op('Size', [node.outputs[0]!])]);
    return [g.op('Div', [spread, g.op('CastLike', [count, x])], {}, 'mean_dx')];
  };
}

/** Every operator that has a rule. */
export const RULES: Readonly<Record<string, Rule>> = {
  ...elementwise,
  ...shaping,
  ...linear,
  ...network,
  ReduceSum: reduction(false),
  ReduceMean: reduction(true),
};
