/**
 * Each gradient rule against central differences in float64: a small graph y = op(inputs) on
 * random inputs, the cost J = Σ r·y with random r, the derived gradient of J w.r.t. the inputs
 * against (J(x + ε) − J(x − ε)) / 2ε. ONNX Runtime runs those graphs in double on the CPU; Conv,
 * ConvTranspose, AveragePool and Resize (in a masked MaxPool gradient) have float32 kernels only, so for them the derived
 * gradient runs in float32 and the differences are taken of a float64 forward written here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { differentiate, type Tuning } from '../../src/engine/graph/autodiff.js';
import { DOUBLE, FLOAT, GraphBuilder, int, ints } from '../../src/engine/graph/builder.js';
import { randomArray, relativeMaxError } from '../helpers.js';

interface Input {
  dims: number[];
  /** Values (random in [lo, hi) when absent). */
  values?: ArrayLike<number>;
  lo?: number;
  hi?: number;
  /** Not differentiated (a constant-like input, e.g. a condition). */
  fixed?: boolean;
}

interface Case {
  name: string;
  inputs: Input[];
  /** The node(s) under test, from the inputs' names; returns y. */
  build: (g: GraphBuilder, x: string[]) => string;
  tuning?: Tuning;
  /** The step of the differences (default EPSILON). */
  epsilon?: number;
  /** For float32-only kernels: y in float64 from the inputs (the differences are taken of Σ r·y). */
  reference?: (x: Float64Array[]) => Float64Array;
}

const EPSILON = 1e-5;
const DOUBLE_TOLERANCE = 1e-7;
const FLOAT_TOLERANCE = 2e-6;

const valuesOf = (input: Input, seed: number) =>
  Float64Array.from(
    input.values ??
      randomArray(
        input.dims.reduce((a, b) => a * b, 1),
        seed,
        input.lo ?? -1,
        input.hi ?? 1,
      ),
  );

/** The dims of y, from the forward graph alone. */
async function outputDims(c: Case, type: typeof FLOAT | typeof DOUBLE, feeds: Record<string, ort.Tensor>) {
  const g = new GraphBuilder('forward');
  g.output(
    'y',
    c.build(
      g,
      c.inputs.map((input, i) => g.input(`x${i}`, input.dims, type)),
    ),
  );
  const session = await ort.InferenceSession.create(g.encode());
  const dims = (await session.run(feeds))['y']!.dims as number[];
  await session.release();
  return dims;
}

/** The graph J = Σ r·y (r an input of y's dims) with J, y and the derived gradients as outputs. */
async function gradientSession(c: Case, type: typeof FLOAT | typeof DOUBLE, yDims: number[]) {
  const g = new GraphBuilder('rule');
  const names = c.inputs.map((input, i) => g.input(`x${i}`, input.dims, type));
  const y = c.build(g, names);
  const cost = g.op('ReduceSum', [g.op('Mul', [y, g.input('r', yDims, type)])], { keepdims: int(0) });
  const wrt = names.filter((_, i) => !c.inputs[i]!.fixed);
  const gradients = differentiate(g, [{ value: cost, gradient: g.scalarOf(1, type) }], wrt, c.tuning);
  g.output('J', cost, []);
  g.output('y', y);
  gradients.forEach((d, i) => g.output(`d${i}`, d));
  return ort.InferenceSession.create(g.encode());
}

async function checkRule(c: Case): Promise<void> {
  const type = c.reference ? FLOAT : DOUBLE;
  const xs = c.inputs.map((input, i) => valuesOf(input, 11 + 7 * i));
  const tensor = (values: ArrayLike<number>, dims: readonly number[]) =>
    type === DOUBLE
      ? new ort.Tensor('float64', Float64Array.from(values), dims)
      : new ort.Tensor('float32', Float32Array.from(values), dims);
  const feedsOf = (inputs: Float64Array[]) =>
    Object.fromEntries(inputs.map((x, i) => [`x${i}`, tensor(x, c.inputs[i]!.dims)]));
  const yDims = await outputDims(c, type, feedsOf(xs));
  const r = randomArray(
    yDims.reduce((a, b) => a * b, 1),
    5,
    -1,
    1,
  );
  const session = await gradientSession(c, type, yDims);
  const run = (inputs: Float64Array[]) => session.run({ ...feedsOf(inputs), r: tensor(r, yDims) });
  const out = await run(xs);
  const cost = async (inputs: Float64Array[]) =>
    c.reference
      ? c.reference(inputs).reduce((s, v, i) => s + v * r[i]!, 0)
      : ((await run(inputs))['J']!.data as Float64Array)[0]!;
  if (c.reference) {
    const error = relativeMaxError(out['y']!.data as Float32Array, c.reference(xs));
    assert.ok(error < 1e-6, `${c.name}: the forward differs from the float64 one by ${error.toExponential(2)}`);
  }
  let output = 0;
  for (const [i, x] of xs.entries()) {
    if (c.inputs[i]!.fixed) continue;
    const numeric = new Float64Array(x.length);
    for (let k = 0; k < numeric.length; k++) {
      const plus = xs.map((v) => Float64Array.from(v));
      const minus = xs.map((v) => Float64Array.from(v));
      const epsilon = c.epsilon ?? EPSILON;
      plus[i]![k]! += epsilon;
      minus[i]![k]! -= epsilon;
      numeric[k] = ((await cost(plus)) - (await cost(minus))) / (2 * epsilon);
    }
    const derived = out[`d${output++}`]!.data as Float64Array;
    const error = relativeMaxError(derived, numeric);
    const tolerance = c.reference ? FLOAT_TOLERANCE : DOUBLE_TOLERANCE;
    assert.ok(error <= tolerance, `${c.name}: input ${i} gradient off by ${error.toExponential(2)}`);
  }
  await session.release();
}

// Float64 forwards of the float32-only operators, NCHW.
function conv64(
  x: Float64Array,
  [n, cin, h, w]: number[],
  k: Float64Array,
  [cout, , kh, kw]: number[],
  pads: number[],
) {
  const [pt, pl, pb, pr] = pads as [number, number, number, number];
  const ho = h + pt + pb - kh! + 1;
  const wo = w + pl + pr - kw! + 1;
  const y = new Float64Array(n! * cout! * ho * wo);
  for (let o = 0; o < cout!; o++)
    for (let r = 0; r < ho; r++)
      for (let s = 0; s < wo; s++) {
        let sum = 0;
        for (let i = 0; i < cin!; i++)
          for (let a = 0; a < kh!; a++)
            for (let b = 0; b < kw!; b++) {
              const yy = r + a - pt;
              const xx = s + b - pl;
              if (yy >= 0 && yy < h! && xx >= 0 && xx < w!)
                sum += x[(i * h! + yy) * w! + xx]! * k[((o * cin! + i) * kh! + a) * kw! + b]!;
            }
        y[(o * ho + r) * wo + s] = sum;
      }
  return y;
}

/** A 2×2 pooling of [1, c, h, w] in float64 (odd rows and columns dropped), each window reduced by `reduce`. */
function pool64(x: Float64Array, [, c, h, w]: number[], reduce: (window: number[]) => number) {
  const [ho, wo] = [Math.floor(h! / 2), Math.floor(w! / 2)];
  const y = new Float64Array(c! * ho * wo);
  for (let i = 0; i < c!; i++)
    for (let r = 0; r < ho; r++)
      for (let s = 0; s < wo; s++) {
        const at = (a: number, b: number) => x[(i * h! + 2 * r + a) * w! + 2 * s + b]!;
        y[(i * ho + r) * wo + s] = reduce([at(0, 0), at(0, 1), at(1, 0), at(1, 1)]);
      }
  return y;
}
const avgPool64 = (x: Float64Array, dims: number[]) => pool64(x, dims, (v) => (v[0]! + v[1]! + v[2]! + v[3]!) / 4);
const maxPool64 = (x: Float64Array, dims: number[]) => pool64(x, dims, (v) => Math.max(...v));

const KERNEL = { dims: [4, 3, 3, 3], values: randomArray(108, 3, -1, 1) };
const convCase = (name: string, pads: number[], tuning: Tuning): Case => ({
  name,
  inputs: [{ dims: [1, 3, 5, 6] }],
  build: (g, [x]) =>
    g.op('Conv', [x!, g.floats(Float32Array.from(KERNEL.values), KERNEL.dims), g.floats([0.1, 0.2, 0.3, 0.4], [4])], {
      kernel_shape: ints([3, 3]),
      pads: ints(pads),
    }),
  tuning,
  reference: ([x]) =>
    conv64(x!, [1, 3, 5, 6], Float64Array.from(Float32Array.from(KERNEL.values)), KERNEL.dims, pads).map(
      (v, i, all) => v + [0.1, 0.2, 0.3, 0.4].map(Math.fround)[Math.floor(i / (all.length / 4))]!,
    ),
});

const CASES: Case[] = [
  {
    name: 'Add (broadcast)',
    inputs: [{ dims: [2, 3, 4] }, { dims: [3, 1] }],
    build: (g, [a, b]) => g.op('Add', [a!, b!]),
  },
  {
    name: 'Sub (broadcast)',
    inputs: [{ dims: [1, 4] }, { dims: [2, 3, 4] }],
    build: (g, [a, b]) => g.op('Sub', [a!, b!]),
  },
  { name: 'Mul (broadcast)', inputs: [{ dims: [2, 3] }, { dims: [3] }], build: (g, [a, b]) => g.op('Mul', [a!, b!]) },
  { name: 'Mul (scalar)', inputs: [{ dims: [2, 3] }, { dims: [] }], build: (g, [a, b]) => g.op('Mul', [a!, b!]) },
  {
    name: 'Div (broadcast)',
    inputs: [{ dims: [2, 3] }, { dims: [2, 1], lo: 1, hi: 2 }],
    build: (g, [a, b]) => g.op('Div', [a!, b!]),
  },
  {
    name: 'Sum, Neg, Identity',
    inputs: [{ dims: [2, 3] }, { dims: [3] }, { dims: [1, 1] }],
    build: (g, [a, b, c]) => g.op('Identity', [g.op('Neg', [g.op('Sum', [a!, b!, c!])])]),
  },
  {
    name: 'Abs, Sign',
    inputs: [{ dims: [3, 4] }],
    build: (g, [x]) => g.op('Add', [g.op('Abs', [x!]), g.op('Sign', [x!])]),
  },
  {
    name: 'Sqrt, Pow',
    inputs: [{ dims: [3, 4], lo: 0.5, hi: 2 }],
    build: (g, [x]) => g.op('Sqrt', [g.op('Pow', [x!, g.scalar64(3)])]),
  },
  {
    name: 'Exp, Log',
    inputs: [{ dims: [5], lo: 0.5, hi: 2 }],
    build: (g, [x]) => g.op('Exp', [g.op('Log', [g.op('Mul', [x!, x!])])]),
  },
  { name: 'Relu (Where mask)', inputs: [{ dims: [4, 5] }], build: (g, [x]) => g.op('Relu', [x!]) },
  {
    name: 'Relu (Sign mask)',
    inputs: [{ dims: [4, 5] }],
    build: (g, [x]) => g.op('Relu', [x!]),
    tuning: { reluMask: 'sign' },
  },
  {
    // Values on a 2⁻⁸ grid and ε a power of two stay exact in float32, and J is quadratic in x.
    name: 'Cast, CastLike',
    inputs: [{ dims: [6], values: [0.25, -0.5, 0.75, 0.125, -1.5, 2] }],
    epsilon: 2 ** -10,
    build: (g, [x]) => {
      const f = g.op('Cast', [x!], { to: int(FLOAT) });
      return g.op('Mul', [
        g.op('CastLike', [f, x!]),
        g.op('Cast', [g.op('Cast', [x!], { to: int(FLOAT) })], { to: int(DOUBLE) }),
      ]);
    },
  },
  {
    name: 'Where (broadcast)',
    inputs: [{ dims: [3, 4], fixed: true }, { dims: [4] }, { dims: [3, 1] }],
    build: (g, [c, a, b]) => g.op('Where', [g.op('Greater', [c!, g.scalar64(0)]), a!, g.op('Mul', [b!, c!])]),
  },
  {
    name: 'Transpose',
    inputs: [{ dims: [2, 3, 4] }],
    build: (g, [x]) => g.op('Transpose', [x!], { perm: ints([2, 0, 1]) }),
  },
  {
    name: 'Reshape, Unsqueeze, Squeeze, Flatten',
    inputs: [{ dims: [2, 6] }],
    build: (g, [x]) => {
      const r = g.op('Reshape', [x!, g.int64s([3, 4])]);
      const u = g.op('Unsqueeze', [r, g.int64s([0])]);
      return g.op('Flatten', [g.op('Squeeze', [u, g.int64s([0])])], { axis: int(1) });
    },
  },
  { name: 'Expand', inputs: [{ dims: [3, 1] }], build: (g, [x]) => g.op('Expand', [x!, g.int64s([2, 3, 4])]) },
  {
    name: 'Slice (negative starts, axes, past the end)',
    inputs: [{ dims: [3, 5, 4] }],
    build: (g, [x]) =>
      g.op('Slice', [
        x!,
        g.int64s([-4, 1]),
        g.int64s([Number.MAX_SAFE_INTEGER, -1]),
        g.int64s([1, -1]),
        g.int64s([1, 1]),
      ]),
  },
  {
    name: 'Pad',
    inputs: [{ dims: [2, 3] }],
    build: (g, [x]) => g.op('Pad', [x!, g.int64s([1, 0, 2, 3]), g.scalar64(0.5)]),
  },
  {
    name: 'Concat',
    inputs: [{ dims: [2, 1, 3] }, { dims: [2, 3, 3] }, { dims: [2, 2, 3] }],
    build: (g, xs) => g.op('Concat', xs, { axis: int(-2) }),
  },
  {
    name: 'Gather (a permutation)',
    inputs: [{ dims: [2, 3, 2] }],
    build: (g, [x]) => g.op('Gather', [x!, g.int64s([2, 0, 1])], { axis: int(1) }),
  },
  { name: 'MatMul', inputs: [{ dims: [3, 4] }, { dims: [4, 5] }], build: (g, [a, b]) => g.op('MatMul', [a!, b!]) },
  {
    name: 'MatMul (batched, broadcast)',
    inputs: [{ dims: [2, 3, 4] }, { dims: [4, 5] }],
    build: (g, [a, b]) => g.op('MatMul', [a!, b!]),
  },
  {
    name: 'MatMul (a Gram matrix A·Aᵀ)',
    inputs: [{ dims: [3, 7] }],
    build: (g, [a]) => g.op('MatMul', [a!, g.op('Transpose', [a!], { perm: ints([1, 0]) })]),
  },
  {
    name: 'Gemm (transA, alpha, beta)',
    inputs: [{ dims: [4, 3] }, { dims: [4, 5] }, { dims: [5] }],
    build: (g, [a, b, c]) => g.op('Gemm', [a!, b!, c!], { transA: int(1), alpha: { float: 0.5 }, beta: { float: 2 } }),
  },
  {
    name: 'Gemm (transB)',
    inputs: [{ dims: [3, 4] }, { dims: [5, 4] }, { dims: [3, 5] }],
    build: (g, [a, b, c]) => g.op('Gemm', [a!, b!, c!], { transB: int(1) }),
  },
  {
    name: 'ReduceSum (axes, keepdims 0), ReduceSum (all)',
    inputs: [{ dims: [2, 3, 4] }],
    build: (g, [x]) => {
      const s = g.op('ReduceSum', [x!, g.int64s([-1, 0])], { keepdims: int(0) });
      return g.op('Mul', [s, g.op('ReduceSum', [g.op('Mul', [x!, x!])], { keepdims: int(0) })]);
    },
  },
  {
    name: 'ReduceMean (axes, keepdims 1), ReduceMean (all)',
    inputs: [{ dims: [2, 3, 4] }],
    build: (g, [x]) => {
      const m = g.op('ReduceMean', [x!], { axes: ints([1]) });
      return g.op('Mul', [m, g.op('ReduceMean', [g.op('Mul', [x!, x!])], { keepdims: int(0) })]);
    },
  },
  {
    name: 'MaxPool 2×2 (odd size)',
    inputs: [{ dims: [1, 2, 5, 5] }],
    build: (g, [x]) => g.op('MaxPool', [x!], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }),
  },
  {
    name: 'MaxPool 2×2 (odd size), routed by a mask of the maxima',
    inputs: [{ dims: [1, 2, 5, 7] }],
    build: (g, [x]) => g.op('MaxPool', [x!], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }),
    tuning: { maxPoolGradient: 'mask' },
    reference: ([x]) => maxPool64(x!, [1, 2, 5, 7]),
  },
  {
    name: 'AveragePool 2×2 (odd size)',
    inputs: [{ dims: [1, 2, 5, 7] }],
    build: (g, [x]) => g.op('AveragePool', [x!], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }),
    reference: ([x]) => avgPool64(x!, [1, 2, 5, 7]),
  },
  convCase('Conv 3×3, pads 1 (flipped kernel)', [1, 1, 1, 1], { backwardConv: 'conv' }),
  convCase('Conv 3×3, pads 1 (ConvTranspose)', [1, 1, 1, 1], { backwardConv: 'convTranspose' }),
  convCase('Conv 3×3, uneven pads (flipped kernel)', [0, 2, 1, 0], { backwardConv: 'conv' }),
];

describe('gradient rules against central differences in float64', () => {
  for (const c of CASES) it(c.name, () => checkRule(c));
});

describe('what the differentiator refuses', () => {
  it('names an operator without a rule', () => {
    const g = new GraphBuilder('refused');
    const x = g.input('x', [2, 3], DOUBLE);
    const y = g.op('ReduceSum', [g.op('Softmax', [x])], { keepdims: int(0) });
    assert.throws(() => differentiate(g, [{ value: y, gradient: g.scalar64(1) }], [x]), /operator Softmax/);
  });

  it('refuses a gradient w.r.t. a convolution kernel and a gather on repeated indices', () => {
    const g = new GraphBuilder('refused');
    const x = g.input('x', [1, 1, 4, 4]);
    const k = g.input('k', [1, 1, 3, 3]);
    const y = g.op('ReduceSum', [g.op('Conv', [x, k], { kernel_shape: ints([3, 3]) })], { keepdims: int(0) });
    assert.throws(() => differentiate(g, [{ value: y, gradient: g.scalar(1) }], [k]), /Conv w\.r\.t\. its kernel/);
    const z = g.op('ReduceSum', [g.op('Gather', [x, g.int64s([0, 0])], { axis: int(3) })], { keepdims: int(0) });
    assert.throws(() => differentiate(g, [{ value: z, gradient: g.scalar(1) }], [x]), /permutation/);
  });

  it('says when no gradient reaches a value', () => {
    const g = new GraphBuilder('unreached');
    const x = g.input('x', [2], DOUBLE);
    const y = g.input('y', [2], DOUBLE);
    const cost = g.op('ReduceSum', [y], { keepdims: int(0) });
    assert.throws(() => differentiate(g, [{ value: cost, gradient: g.scalar64(1) }], [x]), /no gradient reaches x/);
  });
});
