// The temporal cost of a video frame (objective/costs.ts temporalCost) through the ONNX engine,
// its cost and its derived gradient against float64 sums written from the definition:
// J_temporal = Σ c·(x − x̃)² / (h·w·3), dJ/dx = 2·λ·c·(x − x̃) / (h·w·3).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Engine, Objective, TargetImages } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { randomArray, relativeMaxError, relDiff, WEIGHTS } from '../helpers.js';

describe('the temporal cost', () => {
  const [h, w] = [24, 32];
  const n = h * w * 3;
  const lambda = 3.5;
  let engine: Engine;
  const x = randomArray(n, 11, 0, 1);
  const target = randomArray(n, 12, 0, 1);
  // Per pixel 0 or 1, as the consistency weights are.
  const c = Float64Array.from(randomArray(h * w, 13, 0, 1), (v) => (v < 0.3 ? 0 : 1));
  const base: Objective = {
    alpha: 0,
    beta: 0,
    variation: 0,
    styleLayers: ['block1_conv1'],
    contentLayers: ['block1_conv2'],
    styleLayerWeights: [1],
    pooling: 'avg',
  };
  const images = (): TargetImages => ({
    content: tf.tensor4d(Float32Array.from(randomArray(n, 14, 0, 1)), [1, h, w, 3]),
    styles: [tf.tensor4d(Float32Array.from(randomArray(n, 15, 0, 1)), [1, h, w, 3])],
    styleWeights: [1],
    temporal: {
      target: tf.tensor4d(Float32Array.from(target), [1, h, w, 3]),
      weights: tf.tensor2d(Float32Array.from(c), [h, w]),
    },
  });
  const evaluateAt = async (objective: Objective) => {
    const made = images();
    const evaluator = await engine.createEvaluator(objective, made);
    tf.dispose([made.content, ...made.styles, made.temporal!.target, made.temporal!.weights]);
    const image = tf.tensor4d(Float32Array.from(x), [1, h, w, 3]);
    try {
      const { costs, gradient } = await evaluator.evaluate(image);
      const g = gradient.dataSync().slice();
      gradient.dispose();
      return { costs, gradient: g };
    } finally {
      image.dispose();
      evaluator.dispose();
    }
  };

  before(async () => {
    engine = await createEngine({ engine: 'onnx', threads: 2, weights: WEIGHTS });
  });
  after(() => engine.dispose());

  it('is the mean of c·(x − x̃)², with the gradient 2λ·c·(x − x̃)/N (float64, 1e-6)', async () => {
    let sum = 0;
    const expected = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = x[i]! - target[i]!;
      const ci = c[Math.floor(i / 3)]!;
      sum += ci * d * d;
      expected[i] = (2 * lambda * ci * d) / n;
    }
    const { costs, gradient } = await evaluateAt({ ...base, temporal: lambda });
    assert.ok(relDiff(costs.temporal!, sum / n) < 1e-6, `J_temporal ${costs.temporal} against ${sum / n}`);
    assert.ok(relDiff(costs.total, (lambda * sum) / n) < 1e-6, `J ${costs.total}`);
    assert.ok(relativeMaxError(gradient, expected) < 1e-6);
  });

  it('adds λ·J_temporal to the other costs and nothing to them', async () => {
    const others = { ...base, alpha: 2, beta: 1e-3, variation: 0.5 };
    const without = await evaluateAt(others);
    const withIt = await evaluateAt({ ...others, temporal: lambda });
    assert.equal(without.costs.temporal, undefined);
    assert.equal(withIt.costs.content, without.costs.content);
    assert.equal(withIt.costs.style, without.costs.style);
    assert.ok(relDiff(withIt.costs.total, without.costs.total + lambda * withIt.costs.temporal!) < 1e-6);
  });
});
