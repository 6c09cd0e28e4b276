// Styles by region (engine/regions.ts): mask pooling, and the guided Gram matrices' cost and
// gradient through the engine, whole and tiled, against a float64 computation written from the
// definition (each region's Gram matrix of its mask-weighted features, matched to its own style's).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Engine, Objective, TargetImages } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { poolMask } from '../../src/engine/regions.js';
import { TiledEvaluator } from '../../src/engine/tiled.js';
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import { readConvWeights } from '../../src/io/weights.js';
import { features64, tileGradients64, tileSums64, type Setup } from './onnx-reference.js';
import { randomArray, relativeMaxError, relDiff, WEIGHTS } from '../helpers.js';

/** 2×2 average pooling of [h][w] in float64, odd last rows and columns dropped. */
function pool64(m: Float64Array, h: number, w: number): { data: Float64Array; h: number; w: number } {
  const [ph, pw] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = new Float64Array(ph * pw);
  for (let y = 0; y < ph; y++)
    for (let x = 0; x < pw; x++)
      out[y * pw + x] =
        (m[2 * y * w + 2 * x]! +
          m[2 * y * w + 2 * x + 1]! +
          m[(2 * y + 1) * w + 2 * x]! +
          m[(2 * y + 1) * w + 2 * x + 1]!) /
        4;
  return { data: out, h: ph, w: pw };
}

describe('mask pooling', () => {
  it('averages 2×2 blocks at each pooling and drops odd last rows and columns, as the features', () => {
    const [h, w] = [7, 10];
    const data = Float32Array.from(randomArray(h * w, 5, 0, 1));
    const once = pool64(Float64Array.from(data), h, w);
    const twice = pool64(once.data, once.h, once.w);
    const got = poolMask({ data, height: h, width: w }, 2);
    assert.deepEqual([got.height, got.width], [1, 2]);
    assert.ok(relativeMaxError(got.data, twice.data) < 1e-6);
    assert.deepEqual(poolMask({ data, height: h, width: w }, 0).data, data);
  });
});

describe('styles by region', () => {
  // Tall enough for two 80-px tiles (block2_conv1's receptive field fits their context: exact).
  const [h, w] = [96, 40];
  let engine: Engine;
  let setup: Setup;
  before(async () => {
    engine = await createEngine({ engine: 'onnx', threads: 2, weights: WEIGHTS });
    const specs = VGG19_CONV_SPECS.filter((s) => /^block[12]_/.test(s.name));
    setup = {
      styleLayers: ['block1_conv1', 'block2_conv1'],
      contentLayers: ['block2_conv2'],
      styleLayerWeights: [0.6, 0.4],
      pooling: 'avg',
      weights: new Map((await readConvWeights(WEIGHTS, specs)).map((x) => [x.name, x])),
    };
  });
  after(() => engine.dispose());

  const image01 = (n: number, seed: number) => Float64Array.from(randomArray(n, seed, 0, 1), Math.fround);
  /** A soft left half, and a right part that overlaps it and leaves a strip uncovered. */
  const masks = [
    Float64Array.from({ length: h * w }, (_, p) => Math.fround(Math.min(1, Math.max(0, (w / 2 - (p % w)) / 3)))),
    Float64Array.from({ length: h * w }, (_, p) => (p % w >= 16 && p % w < 34 ? 1 : 0)),
  ];

  /**
   * J_style = Σ_r Σ_l w_l·(A_rl/n_l)·mean((G_rl − T_rl)²) with G_rl = Σₚ m(p)·Fₚ Fₚᵀ / A_rl over
   * the mask m pooled to layer l (A_rl = Σₚ m(p), n_l its positions), T_rl the Gram matrix of
   * region r's style; and its gradient, by the float64 reference's backward pass.
   */
  function reference(x: Float64Array, targets: Float64Array[][]): { style: number; gradient: Float64Array } {
    let style = 0;
    const gradient = new Float64Array(x.length);
    masks.forEach((mask, r) => {
      const maps = setup.styleLayers.map((_, l) => {
        let m: { data: Float64Array; h: number; w: number } = { data: mask, h, w };
        for (let p = 0; p < l; p++) m = pool64(m.data, m.h, m.w);
        const area = m.data.reduce((a, b) => a + b, 0);
        return { map: m.data.map((v) => (v * m.h * m.w) / area), area, n: m.h * m.w };
      });
      const weights = { image: new Float64Array(h * w), style: maps.map((m) => m.map), content: [] };
      const sums = tileSums64(x, h, w, { ...setup, contentLayers: [] }, weights, null).grams;
      const K = sums.map((S, l) => {
        const { area, n } = maps[l]!;
        const c = Math.sqrt(S.length);
        const weight = (setup.styleLayerWeights[l]! * area) / n;
        const diff = S.map((v, k) => v / n - targets[r]![l]![k]!);
        style += (weight * diff.reduce((a, d) => a + d * d, 0)) / (c * c);
        return diff.map((d) => (weight * 2 * d) / (c * c * n));
      });
      const parts = tileGradients64(x, h, w, { ...setup, contentLayers: [] }, weights, K, [], []);
      parts.style.forEach((v, k) => (gradient[k]! += v));
    });
    return { style, gradient };
  }

  for (const tiled of [false, true]) {
    it(`gives each region its own style's Gram matrices: the cost and gradient of a float64 computation${tiled ? ', in tiles' : ''}`, async () => {
      const [x, content, s1, s2] = [
        image01(h * w * 3, 1),
        image01(h * w * 3, 2),
        image01(h * w * 3, 3),
        image01(h * w * 3, 4),
      ];
      const styleGrams = [s1, s2].map((s) => features64(s, h, w, setup).grams);
      const want = reference(x, styleGrams);
      const objective: Objective = { ...setup, alpha: 0, beta: 1, variation: 0 };
      const t4 = (d: Float64Array) => tf.tensor4d(Float32Array.from(d), [1, h, w, 3]);
      const images: TargetImages = {
        content: t4(content),
        styles: [t4(s1), t4(s2)],
        styleWeights: [0.5, 0.5],
        regions: { masks: masks.map((m) => tf.tensor2d(Float32Array.from(m), [h, w])), styles: [0, 1] },
      };
      const evaluator = tiled
        ? await TiledEvaluator.create(engine, objective, images, 80)
        : await engine.createEvaluator(objective, images);
      if (evaluator instanceof TiledEvaluator) assert.equal(evaluator.tileCount, 2);
      const image = t4(x);
      try {
        const { costs, gradient } = await evaluator.evaluate(image);
        assert.ok(relDiff(costs.style, want.style) < 1e-5, `J_style ${costs.style} vs ${want.style}`);
        const error = relativeMaxError(gradient.dataSync(), want.gradient);
        assert.ok(error < 1e-4, `gradient off by ${error.toExponential(2)}`);
        gradient.dispose();
      } finally {
        evaluator.dispose();
        tf.dispose([image, images.content, ...images.styles, ...images.regions!.masks]);
      }
    });
  }
});
