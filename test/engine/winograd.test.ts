/**
 * Winograd's convolutions (graph/winograd.ts) and their lowering pass (graph/convolutions.ts)
 * against a float64 direct convolution written here, on random inputs of odd sizes and 1–512
 * channels, run by ONNX Runtime in float32.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { differentiate } from '../../src/engine/graph/autodiff.js';
import { GraphBuilder, ints } from '../../src/engine/graph/builder.js';
import {
  AUTO_MIN_PIXELS,
  convChoice,
  lowerConvolutions,
  type ConvMethod,
} from '../../src/engine/graph/convolutions.js';
import { kernelTransform, transformsOf, winogradConv, winogradConvFlipped } from '../../src/engine/graph/winograd.js';
import { convolutionFromEnv } from '../../src/engine/onnx/engine.js';
import { InputError } from '../../src/errors.js';
import { randomArray, relativeMaxError } from '../helpers.js';

/** Relative to the output's largest value: F(2×2) rounds like the direct Conv, F(4×4) more (bench/README.md). */
const TOLERANCE: Record<Exclude<ConvMethod, 'direct'>, number> = { winograd2: 4e-6, winograd4: 4e-5 };

/** y [out, h, w] = Σ x[in, h+i−1, w+j−1]·k[out, in, i, j] (+ bias), zero outside, in float64. */
function conv64(x: Float64Array, k: Float64Array, bias: Float64Array | null, [inC, h, w]: number[], outC: number) {
  const y = new Float64Array(outC * h * w);
  for (let o = 0; o < outC; o++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++) {
        let sum = bias ? bias[o]! : 0;
        for (let i = 0; i < inC; i++)
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 3; b++) {
              const [rr, cc] = [r + a - 1, c + b - 1];
              if (rr >= 0 && rr < h && cc >= 0 && cc < w)
                sum += x[(i * h + rr) * w + cc]! * k[((o * inC + i) * 3 + a) * 3 + b]!;
            }
        y[(o * h + r) * w + c] = sum;
      }
  return y;
}

/** The kernel [out, in, 3, 3] flipped in space with its channels swapped: [in, out, 3, 3]. */
function flip64(k: Float64Array, outC: number, inC: number) {
  const f = new Float64Array(k.length);
  for (let o = 0; o < outC; o++)
    for (let i = 0; i < inC; i++)
      for (let a = 0; a < 3; a++)
        for (let b = 0; b < 3; b++)
          f[((i * outC + o) * 3 + (2 - a)) * 3 + (2 - b)] = k[((o * inC + i) * 3 + a) * 3 + b]!;
  return f;
}

const rounded = (n: number, seed: number) => Float64Array.from(randomArray(n, seed, -1, 1), Math.fround);

async function run(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(g.encode(), { intraOpNumThreads: 2, logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds);
    return session.outputNames.map((name) => Float32Array.from(out[name]!.data as Float32Array));
  } finally {
    await session.release();
  }
}

describe('Winograd transforms', () => {
  for (const m of [2, 4] as const) {
    it(`F(${m}, 3) computes the 1-D correlation exactly (float64), and G of the reversed kernel is a permuted, scaled G`, () => {
      const { t, bt, g, at, flip } = transformsOf(m);
      const [d, k] = [rounded(t, 1), rounded(3, 2)];
      const gk = g.map((row) => row.reduce((s, v, i) => s + v * k[i]!, 0));
      const bd = bt.map((row) => row.reduce((s, v, i) => s + v * d[i]!, 0));
      const y = at.map((row) => row.reduce((s, v, i) => s + v * gk[i]! * bd[i]!, 0));
      for (let i = 0; i < m; i++) {
        const want = d[i]! * k[0]! + d[i + 1]! * k[1]! + d[i + 2]! * k[2]!;
        assert.ok(Math.abs(y[i]! - want) < 1e-12, `output ${i}: ${y[i]} vs ${want}`);
      }
      const reversed = [k[2]!, k[1]!, k[0]!];
      g.forEach((row, a) => {
        const got = row.reduce((s, v, i) => s + v * reversed[i]!, 0);
        assert.ok(Math.abs(got - flip.scale[a]! * gk[flip.row[a]!]!) < 1e-12, `row ${a}`);
      });
      assert.ok(
        flip.scale.every((s) => Math.abs(Math.log2(Math.abs(s))) % 1 === 0),
        'scales are ±powers of two: exact in float32',
      );
    });
  }
});

// [in, out, h, w]: 1 to 512 channels, odd sizes, sizes smaller than a tile.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [3, 17, 7, 5],
  [17, 3, 2, 3],
  [64, 64, 13, 9],
  [1, 512, 5, 6],
  [512, 512, 5, 7],
];

describe('Winograd convolutions against a float64 direct convolution', () => {
  for (const method of ['winograd2', 'winograd4'] as const) {
    const m = method === 'winograd2' ? 2 : 4;
    for (const [inC, outC, h, w] of SHAPES) {
      it(`${method}: ${inC}→${outC} channels at ${h}×${w}, with bias, and by the flipped kernel`, async () => {
        const x = rounded(inC * h * w, 3);
        const dy = rounded(outC * h * w, 4);
        const kernel = rounded(outC * inC * 9, 5);
        const bias = rounded(outC, 6);
        const g = new GraphBuilder('winograd');
        const u = kernelTransform(g, g.floats(Float32Array.from(kernel), [outC, inC, 3, 3]), [outC, inC], m);
        const forward = winogradConv(
          g,
          g.input('x', [1, inC, h, w]),
          u,
          [outC, inC],
          m,
          g.floats(Float32Array.from(bias), [outC]),
        );
        const backward = winogradConvFlipped(g, g.input('dy', [1, outC, h, w]), u, [outC, inC], m);
        g.output('y', forward, [1, outC, h, w]);
        g.output('dx', backward, [1, inC, h, w]);
        const [y, dx] = await run(g, {
          x: new ort.Tensor('float32', Float32Array.from(x), [1, inC, h, w]),
          dy: new ort.Tensor('float32', Float32Array.from(dy), [1, outC, h, w]),
        });
        const wantY = conv64(x, kernel, bias, [inC, h, w], outC);
        const wantDx = conv64(dy, flip64(kernel, outC, inC), null, [outC, h, w], inC);
        const [ey, edx] = [relativeMaxError(y!, wantY), relativeMaxError(dx!, wantDx)];
        assert.ok(ey <= TOLERANCE[method], `forward off by ${ey.toExponential(2)}`);
        assert.ok(edx <= TOLERANCE[method], `flipped off by ${edx.toExponential(2)}`);
      });
    }
  }
});

describe('lowering a graph and its derived gradient', () => {
  /** Two conv + ReLU layers, the cost Σ r·y, its gradient w.r.t. the input. */
  function network(method: ConvMethod | 'auto', [c0, c1, c2]: number[], [h, w]: number[]) {
    const g = new GraphBuilder('net');
    const x = g.input('x', [1, c0, h, w]);
    const same = { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) };
    const layer = (input: string, inC: number, outC: number, seed: number) => {
      const kernel = g.floats(
        Float32Array.from(rounded(outC * inC * 9, seed), (v) => v / Math.sqrt(inC * 9)),
        [outC, inC, 3, 3],
        'kernel',
      );
      const bias = g.floats(Float32Array.from(rounded(outC, seed + 1)), [outC]);
      return g.op('Relu', [g.op('Conv', [input, kernel, bias], same)]);
    };
    const y = layer(layer(x, c0, c1, 7), c1, c2, 9);
    const r = g.floats(Float32Array.from(rounded(c2 * h * w, 11)), [1, c2, h, w]);
    const cost = g.op('ReduceSum', [g.op('Mul', [y, r])], { keepdims: { int: 0 } });
    const [dx] = differentiate(g, [{ value: cost, gradient: g.scalar(1) }], [x]);
    const lowered = lowerConvolutions(g, method === 'auto' ? convChoice('auto') : () => method);
    g.output('cost', cost, []);
    g.output('dx', dx!, [1, c0, h, w]);
    return { g, lowered };
  }

  it('F(4×4): the cost and the gradient those of the direct graph; each kernel transformed once for both passes', async () => {
    const [channels, size] = [
      [5, 24, 9],
      [11, 14],
    ];
    const x = new ort.Tensor('float32', Float32Array.from(rounded(5 * 11 * 14, 12)), [1, 5, 11, 14]);
    const direct = network('direct', channels, size);
    const winograd = network('winograd4', channels, size);
    assert.equal(direct.lowered, 0);
    assert.equal(winograd.lowered, 4, 'two forward convolutions and their input gradients');
    const [[cost0, dx0], [cost1, dx1]] = [await run(direct.g, { x }), await run(winograd.g, { x })];
    assert.ok(Math.abs(cost1![0]! - cost0![0]!) <= 1e-5 * Math.abs(cost0![0]!), `cost ${cost1![0]} vs ${cost0![0]}`);
    assert.ok(relativeMaxError(dx1!, dx0!) <= 1e-4, 'gradient');
    const model = new TextDecoder('latin1').decode(winograd.g.encode());
    assert.equal(new Set(model.match(/winograd_u(_\d+)?/g)).size, 2, 'one transformed kernel per layer');
    assert.equal(/_back/.test(model), false, 'no flipped kernel left in the model');
  });

  it("'auto' leaves layers under 256 channels direct and lowers the others", () => {
    assert.equal(network('auto', [3, 64, 128], [8, 8]).lowered, 0);
    assert.equal(network('auto', [128, 256, 256], [8, 8]).lowered, 2, "block3_conv2's forward and input gradient");
    assert.equal(network('auto', [256, 512, 512], [8, 8]).lowered, 4);
  });
});

describe("the 'auto' choice by size", () => {
  it('leaves graphs under AUTO_MIN_PIXELS direct and lowers larger ones and those of any size', () => {
    const choose = (pixels?: number) => convChoice('auto', pixels)(512, 512);
    assert.equal(choose(AUTO_MIN_PIXELS - 1), 'direct');
    assert.equal(choose(AUTO_MIN_PIXELS), 'winograd4');
    assert.equal(choose(undefined), 'winograd4');
    assert.equal(convChoice('winograd2', 16)(512, 512), 'winograd2', 'an explicit method holds at every size');
  });
});

describe('NST_CONV', () => {
  it('overrides the convolutions; an unknown value is an input error naming the variable and the choices', () => {
    assert.equal(convolutionFromEnv({}), 'auto');
    assert.equal(convolutionFromEnv({ NST_CONV: 'direct' }), 'direct');
    assert.equal(convolutionFromEnv({ NST_CONV: 'winograd2' }), 'winograd2');
    assert.throws(
      () => convolutionFromEnv({ NST_CONV: 'fast' }),
      (e: Error) =>
        e instanceof InputError &&
        e.message === 'NST_CONV must be one of auto, direct, winograd2, winograd4, not "fast"',
    );
  });
});
