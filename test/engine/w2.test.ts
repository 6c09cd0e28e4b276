/**
 * The Wasserstein-2 style loss (--style-loss w2) against the float64 reference with exact square
 * roots (w2-reference.ts): the evaluation's costs and gradient, the blended and prepared targets,
 * and the tiled evaluation against the whole image's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Engine, Objective } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { DEFAULT_GRAPH } from '../../src/engine/onnx/engine.js';
import { createOnnxEvaluator } from '../../src/engine/onnx/evaluator.js';
import { SessionCache } from '../../src/engine/onnx/session.js';
import { computeOnnxTargets, featuresSession } from '../../src/engine/onnx/targets.js';
import { TiledEvaluator } from '../../src/engine/tiled.js';
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import { readConvWeights, type ConvWeights } from '../../src/io/weights.js';
import { features64, reference64, totalCost, totalGradient, type Setup } from './onnx-reference.js';
import { w2Layer, w2Stats64, w2Target64 } from './w2-reference.js';
import { randomArray, relativeMaxError, relDiff, useWasm, WEIGHTS } from '../helpers.js';

/**
 * The graph against float64 on the same images, the evaluation's square root as the graph
 * defines it (15 Newton–Schulz steps; the style's root exact): measured within 4e-5.
 */
const TOLERANCE = 1e-4;
const W2 = { statistics: w2Stats64, layer: w2Layer };

const image01 = (h: number, w: number, seed: number) =>
  Float64Array.from(randomArray(h * w * 3, seed, 0, 1), Math.fround);
const tensor = (data: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(data), shape);
const channelsOf = (layer: string) => VGG19_CONV_SPECS.find((s) => s.name === layer)!.shape[3];
const sizeAt = (layer: string, h: number, w: number): [number, number] => {
  const pools = Number(layer.slice(5, 6)) - 1;
  return [Math.floor(h / 2 ** pools), Math.floor(w / 2 ** pools)];
};

describe('the W2 style loss against float64 with exact square roots', () => {
  let weights: Map<string, ConvWeights>;
  const cache = new SessionCache(1);
  before(async () => {
    await useWasm();
    const specs = VGG19_CONV_SPECS.filter((s) => /^block[12]_/.test(s.name));
    weights = new Map((await readConvWeights(WEIGHTS, specs)).map((w) => [w.name, w]));
  });
  after(() => cache.clear());

  const setupOf = (pooling: 'avg' | 'max', styleLayerWeights = [0.5, 0.5]): Setup => ({
    styleLoss64: W2,
    styleLayers: ['block1_conv1', 'block2_conv1'],
    contentLayers: ['block2_conv2'],
    styleLayerWeights,
    pooling,
    weights,
  });

  it('the reference gradient matches central differences of the reference cost', () => {
    const [h, w] = [26, 24];
    const setup = setupOf('max');
    const targets = features64(image01(h + 2, w, 21), h + 2, w, setup);
    targets.contents = features64(image01(h, w, 22), h, w, setup).contents;
    const image = image01(h, w, 23);
    const cost = (x: Float64Array) => totalCost(reference64(x, h, w, setup, targets), 0, 1, 0);
    const gradient = totalGradient(reference64(image, h, w, setup, targets), 0, 1, 0);
    const scale = Math.max(...gradient.map(Math.abs));
    for (const k of [0, 41, 777, 1290, 1871]) {
      const [up, down] = [Float64Array.from(image), Float64Array.from(image)];
      up[k]! += 1e-5;
      down[k]! -= 1e-5;
      const numeric = (cost(up) - cost(down)) / 2e-5;
      assert.ok(Math.abs(numeric - gradient[k]!) <= 1e-6 * scale, `pixel value ${k}: ${numeric} vs ${gradient[k]}`);
    }
  });

  for (const [name, h, w, pooling, layerWeights] of [
    ['average pooling, even size', 28, 26, 'avg', [0.5, 0.5]],
    ['max pooling, odd size, layer weights', 29, 27, 'max', [0.8, 0.2]],
  ] as const) {
    it(`evaluation: ${name}`, async () => {
      const setup = setupOf(pooling, [...layerWeights]);
      const image = image01(h, w, 1);
      const styleStats = features64(image01(h + 3, w - 2, 2), h + 3, w - 2, setup).grams;
      const contents = features64(image01(h, w, 3), h, w, setup).contents;
      const ref = reference64(image, h, w, setup, { grams: styleStats, contents });
      const styleTargets = setup.styleLayers.map((layer, i) => {
        const c = channelsOf(layer);
        return tensor(w2Target64(styleStats[i]!, c), [1, c + 1, c]) as tf.Tensor3D;
      });
      const contentTargets = setup.contentLayers.map(
        (layer, i) => tensor(contents[i]!, [1, ...sizeAt(layer, h, w), channelsOf(layer)]) as tf.Tensor4D,
      );
      const x = tensor(image, [1, h, w, 3]) as tf.Tensor4D;
      try {
        for (const [alpha, beta, variation] of [
          [0, 1, 0],
          [1e2, 1, 10],
        ] as const) {
          const objective: Objective = { ...setup, styleLoss: 'w2', alpha, beta, variation };
          const graph = { ...DEFAULT_GRAPH, threads: 2 };
          const targets = { style: styleTargets, content: contentTargets };
          const evaluator = await createOnnxEvaluator(cache, WEIGHTS, objective, targets, [h, w], graph);
          try {
            const { gradient, costs } = await evaluator.evaluate(x);
            const label = `${name}, α=${alpha} β=${beta} var=${variation}`;
            assert.ok(relDiff(costs.style, ref.style) <= TOLERANCE, `${label}: J_style ${costs.style} vs ${ref.style}`);
            const total = totalCost(ref, alpha, beta, variation);
            assert.ok(relDiff(costs.total, total) <= TOLERANCE, `${label}: J ${costs.total} vs ${total}`);
            const error = relativeMaxError(gradient.dataSync(), totalGradient(ref, alpha, beta, variation));
            assert.ok(error <= TOLERANCE, `${label}: gradient off by ${error.toExponential(2)}`);
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

  it('targets: two styles blend by their means and second moments, then the square root is taken', async () => {
    const [h, w] = [28, 26];
    const setup = setupOf('avg');
    const [a, b, content] = [image01(h, w, 8), image01(h + 5, w + 2, 9), image01(h, w, 10)];
    const [sa, sb] = [features64(a, h, w, setup).grams, features64(b, h + 5, w + 2, setup).grams];
    const images = [tensor(a, [1, h, w, 3]), tensor(b, [1, h + 5, w + 2, 3]), tensor(content, [1, h, w, 3])];
    const objective: Objective = { ...setup, styleLoss: 'w2', alpha: 1, beta: 1, variation: 1 };
    const settings = { ...DEFAULT_GRAPH, threads: 2 };
    const features = await featuresSession(WEIGHTS, objective, settings);
    const styleCache = new Map<string, tf.Tensor3D[]>();
    const target = { content: images[2], styles: images.slice(0, 2), styleWeights: [0.75, 0.25] } as const;
    const got = await computeOnnxTargets(features.session, objective, target as never, styleCache, settings);
    await features.session.release();
    for (const stats of styleCache.values()) tf.dispose(stats);
    setup.styleLayers.forEach((layer, i) => {
      const c = channelsOf(layer);
      const blend = sa[i]!.map((v, k) => 0.75 * v + 0.25 * sb[i]![k]!);
      const error = relativeMaxError(got.style[i]!.dataSync(), w2Target64(blend, c));
      assert.ok(error <= TOLERANCE, `the target at ${layer} is off by ${error.toExponential(2)}`);
    });
    tf.dispose([...images, ...got.style, ...got.content]);
  });
});

describe('the W2 style loss in tiles', () => {
  let engine: Engine;
  before(async () => (engine = await createEngine({ engine: 'onnx', threads: 2, weights: WEIGHTS })));
  after(() => engine.dispose());

  it('a tiled evaluation gives the whole image’s costs and gradient (layers whose receptive field fits the margin)', async () => {
    const objective: Objective = {
      alpha: 1e2,
      beta: 1,
      variation: 10,
      styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1'],
      contentLayers: ['block3_conv1'],
      styleLayerWeights: [0.5, 0.25, 0.25],
      pooling: 'avg',
      styleLoss: 'w2',
    };
    const [h, w] = [96, 160];
    const content = tf.tidy(() =>
      tf.clipByValue(tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 31), 0, 1),
    ) as tf.Tensor4D;
    const style = tf.randomUniform([1, 80, 112, 3], 0, 1, 'float32', 32) as tf.Tensor4D;
    const x = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 33) as tf.Tensor4D;
    const images = { content, styles: [style], styleWeights: [1] };
    const whole = await engine.createEvaluator(objective, images);
    const tiled = await TiledEvaluator.create(engine, objective, images, 80);
    try {
      assert.ok(tiled.tileCount > 1);
      const a = await whole.evaluate(x);
      const b = await tiled.evaluate(x);
      for (const key of ['total', 'content', 'style', 'variation'] as const)
        assert.ok(relDiff(b.costs[key], a.costs[key]) <= TOLERANCE, `${key}: ${b.costs[key]} vs ${a.costs[key]}`);
      const error = relativeMaxError(b.gradient.dataSync(), a.gradient.dataSync());
      assert.ok(error <= TOLERANCE, `gradient off by ${error.toExponential(2)}`);
      tf.dispose([a.gradient, b.gradient]);
    } finally {
      whole.dispose();
      tiled.dispose();
      tf.dispose([content, style, x]);
    }
  });
});
