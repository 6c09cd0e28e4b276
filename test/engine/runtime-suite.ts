/**
 * One suite every runtime must pass (runtimes.test.ts, onnx-wasm.test.ts: one ONNX Runtime build
 * per process), through the Engine interface only: the costs and gradient
 * against the float64 reference, a tiled evaluation against the whole one, no tensor left behind,
 * and every style loss.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Engine, EngineName, Evaluator, Objective } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { TiledEvaluator } from '../../src/engine/tiled.js';
import { VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import { STYLE_LOSS_NAMES } from '../../src/engine/objective/style.js';
import { readConvWeights } from '../../src/io/weights.js';
import { features64, reference64, totalCost, totalGradient, type Setup } from './onnx-reference.js';
import { randomArray, relativeMaxError, relDiff, WEIGHTS } from '../helpers.js';

/** A runtime and its tolerances. */
export interface Runtime {
  name: EngineName;
  cost: number;
  gradient: number;
}

const image01 = (h: number, w: number, seed: number) =>
  Float64Array.from(randomArray(h * w * 3, seed, 0, 1), Math.fround);
const tensor4d = (data: Float64Array, h: number, w: number) => tf.tensor4d(Float32Array.from(data), [1, h, w, 3]);

export function runtimeSuite(runtime: Runtime): void {
  describe(`runtime ${runtime.name}`, () => {
    let engine: Engine;
    let setup: Setup;
    before(async () => {
      engine = await createEngine({ engine: runtime.name, threads: 2, weights: WEIGHTS });
      const specs = VGG19_CONV_SPECS.filter((s) => /^block[12]_/.test(s.name));
      setup = {
        styleLayers: ['block1_conv1', 'block2_conv1'],
        contentLayers: ['block2_conv2'],
        styleLayerWeights: [0.75, 0.25],
        pooling: 'max',
        weights: new Map((await readConvWeights(WEIGHTS, specs)).map((w) => [w.name, w])),
      };
    });
    after(() => engine.dispose());

    it('evaluates the float64 reference’s costs and gradient', async () => {
      const [h, w] = [23, 19];
      const [x, content, style] = [image01(h, w, 1), image01(h, w, 2), image01(h + 4, w, 3)];
      const targets = {
        grams: features64(style, h + 4, w, setup).grams,
        contents: features64(content, h, w, setup).contents,
      };
      const ref = reference64(x, h, w, setup, targets);
      const objective: Objective = { ...setup, alpha: 1e2, beta: 1, variation: 10 };
      const images = { content: tensor4d(content, h, w), styles: [tensor4d(style, h + 4, w)], styleWeights: [1] };
      const evaluator = await engine.createEvaluator(objective, images);
      const image = tensor4d(x, h, w);
      try {
        const { costs, gradient } = await evaluator.evaluate(image);
        const want = { ...ref, total: totalCost(ref, 1e2, 1, 10) };
        for (const key of ['total', 'content', 'style', 'variation'] as const)
          assert.ok(relDiff(costs[key], want[key]) <= runtime.cost, `${key}: ${costs[key]} vs ${want[key]}`);
        const error = relativeMaxError(gradient.dataSync(), totalGradient(ref, 1e2, 1, 10));
        assert.ok(error <= runtime.gradient, `gradient off by ${error.toExponential(2)}`);
        gradient.dispose();
      } finally {
        evaluator.dispose();
        tf.dispose([image, images.content, ...images.styles]);
      }
    });

    it('gives the whole image’s costs and gradient in tiles, and leaves no tensor behind', async () => {
      const objective: Objective = { ...setup, alpha: 1e2, beta: 1, variation: 10, pooling: 'avg' };
      const [h, w] = [96, 128];
      const images = {
        content: tensor4d(image01(h, w, 4), h, w),
        styles: [tensor4d(image01(80, 96, 5), 80, 96)],
        styleWeights: [1],
      };
      const image = tensor4d(image01(h, w, 6), h, w);
      // Twice: the second round must end with the tensors the first ended with (the engine keeps
      // the style image's targets in its cache after the first).
      const counts: number[] = [];
      let whole: Evaluator | null = null;
      for (let round = 0; round < 2; round++) {
        whole = await engine.createEvaluator(objective, images);
        const tiled = await TiledEvaluator.create(engine, objective, images, 80);
        try {
          assert.ok(tiled.tileCount > 1);
          const a = await whole.evaluate(image);
          const b = await tiled.evaluate(image);
          for (const key of ['total', 'content', 'style', 'variation'] as const)
            assert.ok(relDiff(b.costs[key], a.costs[key]) <= 1e-4, `${key}: ${b.costs[key]} vs ${a.costs[key]}`);
          const error = relativeMaxError(b.gradient.dataSync(), a.gradient.dataSync());
          assert.ok(error <= 1e-4, `gradient off by ${error.toExponential(2)}`);
          tf.dispose([a.gradient, b.gradient]);
        } finally {
          whole.dispose();
          tiled.dispose();
        }
        counts.push(tf.memory().numTensors);
      }
      assert.equal(counts[1], counts[0], 'tensors left behind by a round');
      tf.dispose([image, images.content, ...images.styles]);
      await assert.rejects(whole!.evaluate(image), /disposed/);
    });

    it('has every style loss', async () => {
      const [h, w] = [24, 24];
      const images = {
        content: tensor4d(image01(h, w, 7), h, w),
        styles: [tensor4d(image01(h, w, 8), h, w)],
        styleWeights: [1],
      };
      try {
        for (const styleLoss of STYLE_LOSS_NAMES) {
          const objective: Objective = { ...setup, alpha: 1, beta: 1, variation: 1, styleLoss };
          const evaluator = await engine.createEvaluator(objective, images);
          const { costs, gradient } = await evaluator.evaluate(images.content);
          assert.ok(Number.isFinite(costs.total) && costs.style > 0, `${styleLoss}: J_style ${costs.style}`);
          gradient.dispose();
          evaluator.dispose();
        }
      } finally {
        tf.dispose([images.content, ...images.styles]);
      }
    });
  });
}
