import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { gramMatrix } from '../../src/engine/tfjs/costs.js';
import { FeatureModel } from '../../src/engine/tfjs/features.js';
import { NST } from '../../src/nst.js';
import { selectBackend } from '../../src/engine/tfjs/backend.js';
import { randomArray, useWasm, WEIGHTS } from '../helpers.js';

// The hand-written backward passes (conv + ReLU, average pooling) against TensorFlow.js's own.
describe('fast gradients', () => {
  const layers = [...NST.styleLayers, NST.contentLayer];
  let fast: FeatureModel;
  let stock: FeatureModel;
  before(async () => {
    await useWasm();
    fast = await FeatureModel.load(WEIGHTS, layers, 'avg', 'fast');
    stock = await FeatureModel.load(WEIGHTS, layers, 'avg', 'stock');
  });
  after(() => {
    fast.dispose();
    stock.dispose();
  });

  // Odd sizes on the way down (34 → 17 → 8, 36 → 18 → 9 → 4) exercise the dropped row/column.
  const input = () => tf.tensor4d(Float32Array.from(randomArray(36 * 34 * 3, 3, -120, 130)), [1, 36, 34, 3]);
  // A loss that weighs every output element differently, so that no error can cancel out.
  const loss = (model: FeatureModel) => (x: tf.Tensor) =>
    tf.addN(
      model
        .apply(x as tf.Tensor4D)
        .map((f, i) => tf.sum(tf.mul(tf.square(f), tf.randomUniform(f.shape, 0.5, 1.5, 'float32', i)))),
    ) as tf.Scalar;

  for (const backend of ['wasm', 'cpu']) {
    it(`agree with the stock gradients within 1e-4 on ${backend}`, async () => {
      await selectBackend(backend as 'wasm' | 'cpu');
      const x = input();
      const [gFast, gStock] = [fast, stock].map((model) => tf.grad(loss(model))(x));
      const diff = tf.tidy(() => tf.div(tf.norm(tf.sub(gFast!, gStock!)), tf.norm(gStock!)).dataSync()[0]!);
      const scale = tf.tidy(() => tf.norm(gStock!).dataSync()[0]!);
      assert.ok(scale > 0, 'the gradient is not zero');
      assert.ok(diff < 1e-4, `relative difference ${diff}`);
      tf.dispose([x, gFast!, gStock!]);
      await useWasm();
    });
  }

  it('leave no tensors behind', () => {
    const x = input();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) tf.grad(loss(fast))(x).dispose();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
});

describe('gram matrix gradient', () => {
  before(useWasm);
  it('is F (W + Wᵀ) / n for the cost sum(W ⊙ G), in float64', () => {
    const [h, w, c] = [3, 4, 5];
    const n = h * w;
    const f = Float64Array.from(randomArray(n * c, 31), Math.fround);
    const weights = Float64Array.from(randomArray(c * c, 32), Math.fround);
    const grad = tf.tidy(() => {
      const W = tf.tensor3d(Float32Array.from(weights), [1, c, c]);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(gramMatrix(x as tf.Tensor4D), W)))(
        tf.tensor4d(Float32Array.from(f), [1, h, w, c]),
      );
    });
    const got = grad.dataSync();
    for (let p = 0; p < n; p++)
      for (let k = 0; k < c; k++) {
        let want = 0;
        for (let j = 0; j < c; j++) want += (f[p * c + j]! * (weights[k * c + j]! + weights[j * c + k]!)) / n;
        assert.ok(
          Math.abs(got[p * c + k]! - want) < 1e-5 * Math.max(1, Math.abs(want)),
          `[${p}, ${k}]: ${got[p * c + k]} vs ${want}`,
        );
      }
    grad.dispose();
  });
});
