import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { contentCost, gramMatrix, layerStyleCost, styleCost, variationalCost } from '../../src/engine/tfjs/costs.js';
import { randomArray, relDiff, useWasm } from '../helpers.js';

// Float64 references, written straight from the definitions, on float32-rounded inputs.
const f32 = (a: Float64Array) => Float64Array.from(a, Math.fround);

function gram64(f: Float64Array, h: number, w: number, c: number): Float64Array {
  const g = new Float64Array(c * c);
  for (let i = 0; i < c; i++)
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let p = 0; p < h * w; p++) s += f[p * c + i]! * f[p * c + j]!;
      g[i * c + j] = s / (h * w);
    }
  return g;
}
const mse64 = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / a.length;

function tv64(x: Float64Array, h: number, w: number, c: number): number {
  let s = 0;
  for (let y = 0; y < h; y++)
    for (let xx = 0; xx < w; xx++)
      for (let k = 0; k < c; k++) {
        const v = x[(y * w + xx) * c + k]!;
        if (y + 1 < h) s += Math.abs(x[((y + 1) * w + xx) * c + k]! - v);
        if (xx + 1 < w) s += Math.abs(x[(y * w + xx + 1) * c + k]! - v);
      }
  return s;
}

describe('costs', () => {
  before(useWasm);
  const [h, w, c] = [5, 7, 6];

  it('gramMatrix is Fᵀ F / (h·w) with shape [1, c, c]', () => {
    const f = f32(randomArray(h * w * c, 1));
    const gram = gramMatrix(tf.tensor4d(Float32Array.from(f), [1, h, w, c]));
    assert.deepEqual(gram.shape, [1, c, c]);
    const expected = gram64(f, h, w, c);
    gram
      .dataSync()
      .forEach((v, i) =>
        assert.ok(Math.abs(v - expected[i]!) <= 1e-5 * Math.max(1, Math.abs(expected[i]!)), `entry ${i}`),
      );
    gram.dispose();
  });

  it('layerStyleCost is the mean of (G − A)² over the c×c entries', () => {
    const f = f32(randomArray(h * w * c, 2, 0, 3));
    const a = f32(randomArray(c * c, 3));
    const cost = layerStyleCost(
      tf.tensor4d(Float32Array.from(f), [1, h, w, c]),
      tf.tensor3d(Float32Array.from(a), [1, c, c]),
    ).dataSync()[0]!;
    assert.ok(relDiff(cost, mse64(gram64(f, h, w, c), a)) < 1e-5);
  });

  it('styleCost weights the layer costs', () => {
    const shapes: [number, number, number][] = [
      [6, 6, 4],
      [3, 3, 8],
    ];
    const fs = shapes.map(([hh, ww, cc], i) => f32(randomArray(hh * ww * cc, 10 + i, 0, 2)));
    const as = shapes.map(([, , cc], i) => f32(randomArray(cc * cc, 20 + i)));
    const weights = [0.25, 0.75];
    const cost = styleCost(
      fs.map((f, i) => tf.tensor4d(Float32Array.from(f), [1, ...shapes[i]!])),
      as.map((a, i) => tf.tensor3d(Float32Array.from(a), [1, shapes[i]![2], shapes[i]![2]])),
      weights,
    ).dataSync()[0]!;
    const expected = shapes.reduce(
      (s, [hh, ww, cc], i) => s + weights[i]! * mse64(gram64(fs[i]!, hh, ww, cc), as[i]!),
      0,
    );
    assert.ok(relDiff(cost, expected) < 1e-5);
  });

  it('contentCost is the mean of (F − P)² over h·w·c', () => {
    const f = f32(randomArray(h * w * c, 4));
    const p = f32(randomArray(h * w * c, 5));
    const cost = contentCost(
      tf.tensor4d(Float32Array.from(f), [1, h, w, c]),
      tf.tensor4d(Float32Array.from(p), [1, h, w, c]),
    ).dataSync()[0]!;
    assert.ok(relDiff(cost, mse64(f, p)) < 1e-5);
  });

  it('variationalCost is the total variation of the image', () => {
    const x = f32(randomArray(h * w * 3, 6, 0, 1));
    const cost = variationalCost(tf.tensor4d(Float32Array.from(x), [1, h, w, 3])).dataSync()[0]!;
    assert.ok(relDiff(cost, tv64(x, h, w, 3)) < 1e-5);
    // A constant image has none.
    assert.equal(variationalCost(tf.fill([1, h, w, 3], 0.5) as tf.Tensor4D).dataSync()[0], 0);
  });

  it('the cost functions leave no tensors behind', () => {
    const f = tf.tensor4d(Float32Array.from(randomArray(h * w * c, 7)), [1, h, w, c]);
    const a = tf.tensor3d(Float32Array.from(randomArray(c * c, 8)), [1, c, c]);
    const before = tf.memory().numTensors;
    const outputs = [
      gramMatrix(f),
      layerStyleCost(f, a),
      styleCost([f], [a], [1]),
      contentCost(f, f),
      variationalCost(f),
    ];
    assert.equal(tf.memory().numTensors, before + outputs.length);
    tf.dispose([...outputs, f, a]);
  });
});
