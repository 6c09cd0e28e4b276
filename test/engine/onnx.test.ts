import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Objective } from '../../src/engine/evaluator.js';
import { createOnnxEvaluator, type GraphSettings } from '../../src/engine/onnx/evaluator.js';
import { createOnnxEngine, DEFAULT_GRAPH, type OnnxEngine } from '../../src/engine/onnx/engine.js';
import { SessionCache } from '../../src/engine/onnx/session.js';
import { computeOnnxTargets, featuresSession } from '../../src/engine/onnx/targets.js';
import * as costs from '../../src/engine/tfjs/costs.js';
import { vggPreprocess } from '../../src/engine/tfjs/preprocess.js';
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import { readConvWeights, type ConvWeights } from '../../src/io/weights.js';
import { NST, type NSTOptions } from '../../src/nst.js';
import type { Costs } from '../../src/optim/types.js';
import {
  features64,
  reference64,
  totalCost,
  totalGradient,
  type Pool,
  type Setup,
  type Targets64,
} from './onnx-reference.js';
import { randomArray, relativeMaxError, useWasm, WEIGHTS } from '../helpers.js';

const THREADS = 2;
const COST_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;

/** An image [h][w][3] in [0, 1], rounded to float32 so that both sides see the same values. */
const image01 = (h: number, w: number, seed: number) =>
  Float64Array.from(randomArray(h * w * 3, seed, 0, 1), Math.fround);
const tensor = (data: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(data), shape);

function assertCosts(got: Costs, want: Costs, tolerance: number, label: string): void {
  for (const key of ['total', 'content', 'style', 'variation'] as const) {
    const rel = Math.abs(got[key] - want[key]) / Math.abs(want[key]);
    assert.ok(rel <= tolerance, `${label}: ${key} ${got[key]} vs ${want[key]} (relative ${rel.toExponential(2)})`);
  }
}

function assertGradient(got: tf.Tensor, want: ArrayLike<number>, label: string): void {
  const rel = relativeMaxError(got.dataSync(), want);
  assert.ok(rel <= GRADIENT_TOLERANCE, `${label}: gradient off by ${rel.toExponential(2)} of its largest value`);
}

// ---------------------------------------------------------------------------------------------
// Against the float64 reference, on tiny images and shallow layers

interface Case {
  name: string;
  h: number;
  w: number;
  styleLayers: string[];
  contentLayers: string[];
  styleLayerWeights?: number[];
  pooling: Pool;
  graph?: Partial<GraphSettings>;
}

const CASES: Case[] = [
  {
    name: 'average pooling, even size',
    h: 22,
    w: 18,
    styleLayers: ['block1_conv1', 'block2_conv1'],
    contentLayers: ['block2_conv2'],
    pooling: 'avg',
  },
  {
    name: 'max pooling, odd size, several content layers, style layer weights',
    h: 23,
    w: 19,
    styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1'],
    contentLayers: ['block2_conv2', 'block3_conv1'],
    styleLayerWeights: [3, 1, 2],
    pooling: 'max',
  },
  {
    name: 'average pooling, odd size (dropped rows and columns), style layer weights',
    h: 23,
    w: 19,
    styleLayers: ['block2_conv1', 'block1_conv2', 'block3_conv1'],
    contentLayers: ['block1_conv1', 'block3_conv1'],
    styleLayerWeights: [1, 2, 1],
    pooling: 'avg',
  },
  {
    name: 'ConvTranspose backward, Sign mask, sizes given at run time',
    h: 21,
    w: 20,
    styleLayers: ['block1_conv1', 'block2_conv1'],
    contentLayers: ['block2_conv2'],
    pooling: 'max',
    graph: { backwardConv: 'convTranspose', reluMask: 'sign', dims: 'symbolic' },
  },
  {
    name: 'Winograd F(4×4, 3×3) for every convolution, forward and backward, odd size',
    h: 23,
    w: 19,
    styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1'],
    contentLayers: ['block2_conv2'],
    pooling: 'max',
    graph: { convolution: 'winograd4' },
  },
  {
    name: 'Winograd F(2×2, 3×3) for every convolution, sizes given at run time',
    h: 21,
    w: 26,
    styleLayers: ['block1_conv2', 'block2_conv1'],
    contentLayers: ['block2_conv2'],
    pooling: 'avg',
    graph: { convolution: 'winograd2', dims: 'symbolic' },
  },
  {
    // With sizes given at run time 'auto' lowers as it does from 128×192 px up.
    name: "the default ('auto'), sizes given at run time: Winograd F(4×4) on block3_conv2 on, direct before",
    h: 30,
    w: 27,
    styleLayers: ['block1_conv1', 'block3_conv1', 'block3_conv4'],
    contentLayers: ['block3_conv3'],
    pooling: 'max',
    graph: { dims: 'symbolic' },
  },
];

/** Cost weights, each term alone (so each gradient is checked on its own) and the defaults. */
const WEIGHT_SETS: [number, number, number][] = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
  [1e4, 1, 10],
];

describe('ONNX evaluator against a float64 reference', () => {
  let weights: Map<string, ConvWeights>;
  // One idle session kept: the weight sets of a case share it (the weights are graph inputs).
  const cache = new SessionCache(1);
  before(async () => {
    await useWasm();
    const specs = VGG19_CONV_SPECS.filter((s) => /^block[123]_/.test(s.name));
    weights = new Map((await readConvWeights(WEIGHTS, specs)).map((w) => [w.name, w]));
  });
  after(() => cache.clear());

  for (const c of CASES) {
    it(c.name, async () => {
      const sum = (c.styleLayerWeights ?? c.styleLayers.map(() => 1)).reduce((a, b) => a + b, 0);
      const setup: Setup = {
        styleLayers: c.styleLayers,
        contentLayers: c.contentLayers,
        styleLayerWeights: (c.styleLayerWeights ?? c.styleLayers.map(() => 1)).map((x) => x / sum),
        pooling: c.pooling,
        weights,
      };
      const image = image01(c.h, c.w, 1);
      const style = features64(image01(c.h + 3, c.w - 2, 2), c.h + 3, c.w - 2, setup);
      const content = features64(image01(c.h, c.w, 3), c.h, c.w, setup);
      // The targets as the graph gets them: float32.
      const targets: Targets64 = {
        grams: style.grams.map((g) => Float64Array.from(g, Math.fround)),
        contents: content.contents.map((f) => Float64Array.from(f, Math.fround)),
      };
      const ref = reference64(image, c.h, c.w, setup, targets);

      const styleTargets = targets.grams.map(
        (g) => tensor(g, [1, Math.sqrt(g.length), Math.sqrt(g.length)]) as tf.Tensor3D,
      );
      const contentTargets = c.contentLayers.map((layer, i) => {
        const channels = VGG19_CONV_SPECS.find((s) => s.name === layer)!.shape[3];
        const [h, w] = sizeAt(layer, c.h, c.w);
        return tensor(targets.contents[i]!, [1, h, w, channels]) as tf.Tensor4D;
      });
      const x = tensor(image, [1, c.h, c.w, 3]) as tf.Tensor4D;
      const graph = { ...DEFAULT_GRAPH, threads: THREADS, ...c.graph };
      const targets32 = { style: styleTargets, content: contentTargets };
      try {
        for (const [alpha, beta, variation] of WEIGHT_SETS) {
          const objective: Objective = { ...setup, alpha, beta, variation };
          const evaluator = await createOnnxEvaluator(cache, WEIGHTS, objective, targets32, [c.h, c.w], graph);
          try {
            const { gradient, costs: got } = await evaluator.evaluate(x);
            const label = `${c.name}, α=${alpha} β=${beta} var=${variation}`;
            const want = {
              total: totalCost(ref, alpha, beta, variation),
              content: ref.content,
              style: ref.style,
              variation: ref.variation,
            };
            assertCosts(got, want, COST_TOLERANCE, label);
            assertGradient(gradient, totalGradient(ref, alpha, beta, variation), label);
            gradient.dispose();
          } finally {
            evaluator.dispose();
          }
        }
      } finally {
        tf.dispose([x, ...styleTargets, ...contentTargets]);
      }
    });
  }

  it('the reference gradient matches central differences of the reference costs', () => {
    const [h, w] = [12, 10];
    const setup: Setup = {
      styleLayers: ['block1_conv1', 'block2_conv1'],
      contentLayers: ['block1_conv2'],
      styleLayerWeights: [0.5, 0.5],
      pooling: 'max',
      weights,
    };
    const targets = features64(image01(h, w, 5), h, w, setup);
    targets.contents = features64(image01(h, w, 6), h, w, setup).contents;
    const image = image01(h, w, 7);
    const weightsOf: [number, number, number] = [1e3, 1e-3, 10];
    const cost = (x: Float64Array) => totalCost(reference64(x, h, w, setup, targets), ...weightsOf);
    const gradient = totalGradient(reference64(image, h, w, setup, targets), ...weightsOf);
    const scale = Math.max(...gradient.map(Math.abs));
    for (const k of [0, 37, 151, 250, 359]) {
      const eps = 1e-5;
      const up = Float64Array.from(image);
      const down = Float64Array.from(image);
      up[k]! += eps;
      down[k]! -= eps;
      const numeric = (cost(up) - cost(down)) / (2 * eps);
      assert.ok(Math.abs(numeric - gradient[k]!) <= 1e-6 * scale, `pixel value ${k}: ${numeric} vs ${gradient[k]}`);
    }
  });

  it('computeOnnxTargets matches the float64 Gram matrices (a blend of two style images) and features', async () => {
    const [h, w] = [20, 17];
    const setup: Setup = {
      styleLayers: ['block1_conv1', 'block2_conv2'],
      contentLayers: ['block1_conv2', 'block2_conv1'],
      styleLayerWeights: [0.5, 0.5],
      pooling: 'max',
      weights,
    };
    const [a, b, content] = [image01(h, w, 8), image01(h + 5, w + 2, 9), image01(h, w, 10)];
    const [ta, tb, tc] = [
      features64(a, h, w, setup),
      features64(b, h + 5, w + 2, setup),
      features64(content, h, w, setup),
    ];
    const images = [
      tensor(a, [1, h, w, 3]),
      tensor(b, [1, h + 5, w + 2, 3]),
      tensor(content, [1, h, w, 3]),
    ] as tf.Tensor4D[];
    const objective: Objective = { ...setup, alpha: 1, beta: 1, variation: 1 };
    const features = await featuresSession(WEIGHTS, objective, { ...DEFAULT_GRAPH, threads: THREADS });
    const styleCache = new Map<string, tf.Tensor3D[]>();
    const styleImages = { content: images[2]!, styles: images.slice(0, 2), styleWeights: [0.75, 0.25] };
    const got = await computeOnnxTargets(features.session, objective, styleImages, styleCache);
    await features.session.release();
    assert.equal(styleCache.size, 2, "each style image's Gram matrices are cached");
    for (const grams of styleCache.values()) tf.dispose(grams);
    setup.styleLayers.forEach((layer, i) => {
      const want = ta.grams[i]!.map((v, k) => 0.75 * v + 0.25 * tb.grams[i]![k]!);
      assert.ok(relativeMaxError(got.style[i]!.dataSync(), want) <= COST_TOLERANCE, `Gram matrix at ${layer}`);
    });
    setup.contentLayers.forEach((layer, i) => {
      const [lh, lw] = sizeAt(layer, h, w);
      assert.deepEqual(got.content[i]!.shape, [1, lh, lw, VGG19_CONV_SPECS.find((s) => s.name === layer)!.shape[3]]);
      assert.ok(
        relativeMaxError(got.content[i]!.dataSync(), tc.contents[i]!) <= COST_TOLERANCE,
        `features at ${layer}`,
      );
    });
    tf.dispose([...images, ...got.style, ...got.content]);
  });
});

/** A conv layer's output size for an h × w image: floor-halved at each pooling before it. */
function sizeAt(layer: string, h: number, w: number): [number, number] {
  const pools = Number(layer.slice(5, 6)) - 1;
  return [Math.floor(h / 2 ** pools), Math.floor(w / 2 ** pools)];
}

// ---------------------------------------------------------------------------------------------
// Against TensorFlow.js (NST.computeGrads on the wasm backend), with the whole default network

/**
 * NST's costs with TensorFlow.js's own layer outputs and Gram matrices but the sums in float64:
 * TensorFlow.js adds 512² float32 terms in sequence, which is off by ~1e-4 by itself.
 */
function tfCosts64(nst: NST, x: tf.Tensor4D): Costs {
  const model = nst.model!;
  const sum64 = (t: tf.Tensor, f: (v: number) => number) =>
    (t.dataSync() as Float32Array).reduce((s, v) => s + f(v), 0);
  return tf.tidy(() => {
    const outputs = model.apply(vggPreprocess(x));
    const at = (layer: string) => outputs[model.outputNames.indexOf(layer)]!;
    let style = 0;
    nst.styleLayers.forEach((layer, i) => {
      const diff = tf.sub(costs.gramMatrix(at(layer)), nst.gramStyleFeatures[i]!);
      style += (nst.styleLayerWeights[i]! * sum64(diff, (v) => v * v)) / diff.size;
    });
    let content = 0;
    nst.contentLayers.forEach((layer, i) => {
      const diff = tf.sub(at(layer), nst.contentFeatures[i]!);
      content += sum64(diff, (v) => v * v) / diff.size / nst.contentLayers.length;
    });
    const [, h, w] = x.shape;
    const vertical = tf.sub(
      tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]),
      tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]),
    );
    const horizontal = tf.sub(
      tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]),
      tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]),
    );
    const variation = sum64(vertical, Math.abs) + sum64(horizontal, Math.abs);
    return { total: totalCost({ content, style, variation }, nst.alpha, nst.beta, nst.var), content, style, variation };
  });
}

/** The ONNX engine's evaluator (its own targets from the same images) against NST.computeGrads on wasm. */
async function compareWithTf(engine: OnnxEngine, options: NSTOptions, h: number, w: number): Promise<void> {
  const rgb = (hh: number, ww: number, seed: number) => ({
    data: randomArray(hh * ww * 3, seed, 0, 255).map(Math.round),
    shape: [hh, ww, 3],
  });
  // One style image per style weight, of different sizes.
  const styles = (options.styleWeights ?? [1]).map((_, i) => rgb(h + 6 + 5 * i, w - 4 + 3 * i, 21 + 10 * i));
  const nst = await NST.create(styles, rgb(h, w, 22), {
    ...options,
    size: Math.max(h, w),
    weights: WEIGHTS,
  });
  const x = tf.randomUniform(nst.contentImage.shape, 0, 1, 'float32', 23) as tf.Tensor4D;
  const objective: Objective = {
    alpha: nst.alpha,
    beta: nst.beta,
    variation: nst.var,
    styleLayers: nst.styleLayers,
    contentLayers: nst.contentLayers,
    styleLayerWeights: nst.styleLayerWeights,
    pooling: nst.pooling,
  };
  const images = { content: nst.contentImage, styles: nst.styleImages, styleWeights: nst.styleWeights };
  const evaluator = await engine.createEvaluator(objective, images);
  try {
    const [grad, J, Jc, Js, Jv] = nst.computeGrads(x);
    const tfCosts = {
      total: J.dataSync()[0]!,
      content: Jc.dataSync()[0]!,
      style: Js.dataSync()[0]!,
      variation: Jv.dataSync()[0]!,
    };
    const { gradient, costs: got } = await evaluator.evaluate(x);
    assertCosts(got, tfCosts64(nst, x), COST_TOLERANCE, 'against float64 sums of TensorFlow.js values');
    assertCosts(got, tfCosts, 1e-3, 'against TensorFlow.js float32 costs');
    assertGradient(gradient, grad.dataSync(), 'against TensorFlow.js');
    tf.dispose([grad, J, Jc, Js, Jv, gradient]);
  } finally {
    evaluator.dispose();
    x.dispose();
    nst.dispose();
  }
}

describe('ONNX engine against TensorFlow.js', () => {
  let engine: OnnxEngine;
  before(async () => {
    engine = await createOnnxEngine({ weights: WEIGHTS, threads: THREADS });
  });
  after(() => engine.dispose());

  it('default layers, average pooling', () => compareWithTf(engine, {}, 40, 30));

  it('max pooling, several content layers, style layer weights, odd sizes', () =>
    compareWithTf(
      engine,
      {
        pooling: 'max',
        contentLayers: ['block4_conv2', 'block5_conv2'],
        styleLayerWeights: [1, 2, 3, 4, 5],
        alpha: 2e3,
        beta: 3,
        var: 0.5,
      },
      37,
      45,
    ));

  it('two blended style images, the targets computed once per image', async () => {
    const before = engine.cached.styleTargets;
    await compareWithTf(engine, { styleWeights: [0.3, 0.7] }, 33, 30);
    assert.ok(engine.cached.styleTargets > before);
  });

  it('creates evaluators again and again without a tensor left behind', async () => {
    const content = tf.randomUniform([1, 24, 20, 3], 0, 1, 'float32', 31) as tf.Tensor4D;
    const objective: Objective = {
      alpha: 1e4,
      beta: 1,
      variation: 10,
      styleLayers: ['block1_conv1', 'block2_conv1'],
      contentLayers: ['block2_conv2'],
      styleLayerWeights: [0.5, 0.5],
      pooling: 'avg',
    };
    const images = { content, styles: [content], styleWeights: [1] };
    const cycle = async () => {
      const evaluator = await engine.createEvaluator(objective, images);
      const { gradient } = await evaluator.evaluate(content);
      gradient.dispose();
      evaluator.dispose();
    };
    await cycle(); // the style's Gram matrices stay in the engine's cache
    const tensors = tf.memory().numTensors;
    const sessions = engine.cached.models;
    for (let i = 0; i < 3; i++) await cycle();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(engine.cached.models, sessions, 'the sessions of this size are reused');
    content.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Resources

describe('ONNX evaluator resources', () => {
  const objective: Objective = {
    alpha: 1e4,
    beta: 1,
    variation: 10,
    styleLayers: ['block1_conv1'],
    contentLayers: ['block1_conv2'],
    styleLayerWeights: [1],
    pooling: 'avg',
  };
  const graph = { ...DEFAULT_GRAPH, threads: 1 };
  const targetsOf = (h: number, w: number) => ({
    style: [tf.zeros([1, 64, 64])] as tf.Tensor3D[],
    content: [tf.zeros([1, h, w, 64])] as tf.Tensor4D[],
  });
  const dispose = (t: { style: tf.Tensor[]; content: tf.Tensor[] }) => tf.dispose([...t.style, ...t.content]);
  const evaluatorOf = (cache: SessionCache, h = 16, w = 16, settings: Partial<GraphSettings> = {}) => {
    const targets = targetsOf(h, w);
    return createOnnxEvaluator(cache, WEIGHTS, objective, targets, [h, w], { ...graph, ...settings }).finally(() =>
      dispose(targets),
    );
  };

  it('leaves no tensor behind across evaluations, and rejects them after dispose', async () => {
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const cache = new SessionCache(0);
    const evaluator = await evaluatorOf(cache);
    assert.equal(tf.memory().numTensors, before, 'creating the evaluator');
    for (let i = 0; i < 3; i++) {
      const { gradient } = await evaluator.evaluate(x);
      gradient.dispose();
      assert.equal(tf.memory().numTensors, before, `evaluation ${i}`);
    }
    evaluator.dispose();
    evaluator.dispose();
    await assert.rejects(evaluator.evaluate(x), /disposed/);
    await assert.rejects((await evaluatorOf(cache, 16, 15)).evaluate(x), /the evaluator's size \[1, 16, 15, 3\]/);
    tf.dispose(x);
  });

  it('shares one session between evaluators of the same size and releases it when none uses it', async () => {
    const cache = new SessionCache(0);
    const [a, b] = [await evaluatorOf(cache), await evaluatorOf(cache)];
    assert.equal(a.provider, 'cpu');
    assert.equal(cache.size, 1, 'one size, one session');
    const c = await evaluatorOf(cache, 16, 20);
    assert.equal(cache.size, 2, 'another size is another session');
    a.dispose();
    assert.equal(cache.size, 2, 'still in use by b');
    b.dispose();
    c.dispose();
    assert.equal(cache.size, 0);
  });

  it('keeps an idle session for the next evaluator up to its limit, and clear releases it', async () => {
    const cache = new SessionCache(1);
    (await evaluatorOf(cache)).dispose();
    assert.equal(cache.size, 1);
    (await evaluatorOf(cache)).dispose();
    assert.equal(cache.size, 1, 'the idle one was taken again');
    assert.equal(await cache.clear(), 1);
    assert.equal(cache.size, 0);
  });

  it('a dispose during an evaluation lets it finish, then releases the session', async () => {
    const cache = new SessionCache(0);
    const evaluator = await evaluatorOf(cache);
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const running = evaluator.evaluate(x);
    evaluator.dispose();
    assert.equal(cache.size, 1, 'held while the evaluation runs');
    const { gradient, costs: got } = await running;
    assert.ok(Number.isFinite(got.total));
    assert.equal(cache.size, 0);
    tf.dispose([x, gradient]);
  });

  it('one session with sizes given at run time serves every size, with the fixed-size results', async () => {
    const cache = new SessionCache(0);
    const symbolic = { dims: 'symbolic' as const };
    const [a, b] = [await evaluatorOf(cache, 16, 16, symbolic), await evaluatorOf(cache, 18, 17, symbolic)];
    assert.equal(cache.size, 1);
    const x = tf.randomUniform([1, 18, 17, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const fixed = await evaluatorOf(cache, 18, 17);
    const [symbolicResult, fixedResult] = [await b.evaluate(x), await fixed.evaluate(x)];
    assertCosts(symbolicResult.costs, fixedResult.costs, 1e-6, 'symbolic vs fixed');
    assert.ok(relativeMaxError(symbolicResult.gradient.dataSync(), fixedResult.gradient.dataSync()) <= 1e-6);
    tf.dispose([x, symbolicResult.gradient, fixedResult.gradient]);
    [a, b, fixed].forEach((e) => e.dispose());
    assert.equal(cache.size, 0);
  });
});
