import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../../src/optim/adam.js';
import { OnnxAdam } from '../../src/engine/onnx/adam.js';
import { loadRuntime } from '../../src/engine/onnx/runtime.js';
import { relativeMaxError, useWasm, useLavapipe } from '../helpers.js';

/** A deterministic pseudo-random value in [−1, 1) for step k, element i. */
const wave = (k: number, i: number) => Math.sin(12.9898 * (i + 1) + 78.233 * (k + 1)) % 1;

/** tf.keras' Adam (ε outside the square root, bias correction folded into the rate) then clip to [0, 1], in float64. */
function reference(x0: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number): number[] {
  const x = [...x0];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    for (let i = 0; i < x.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      x[i] = Math.min(1, Math.max(0, x[i]! - (lrT * m[i]!) / (Math.sqrt(v[i]!) + eps)));
    }
  });
  return x;
}

describe('Adam', () => {
  before(useWasm);

  it('takes the steps of a float64 Adam with clipping, and keeps no tensor beyond its two moments', async () => {
    const shape: [number, number, number, number] = [1, 5, 4, 3];
    const n = 5 * 4 * 3;
    // Pixels near both bounds, so that clipping acts; gradients of both signs and several scales.
    const x0 = Array.from({ length: n }, (_, i) =>
      i % 3 === 0 ? 0.002 : i % 3 === 1 ? 0.998 : 0.5 + 0.4 * wave(9, i),
    );
    const grads = Array.from({ length: 6 }, (_, k) => Array.from({ length: n }, (_, i) => wave(k, i) * 10 ** (i % 4)));
    const adam = new Adam(0.01, 0.9, 0.99);
    let image = tf.tensor4d(x0, shape);
    const start = tf.memory().numTensors;
    for (const [k, g] of grads.entries()) {
      const gradient = tf.tensor4d(g, shape);
      const result = await adam.step(image, { gradient, costs: { total: 0, content: 0, style: 0, variation: 0 } });
      gradient.dispose();
      assert.ok('image' in result);
      image.dispose();
      image = result.image;
      // The image, and from the first step on the two moments.
      assert.equal(tf.memory().numTensors, start + 2, `tensors after step ${k + 1}`);
    }
    const got = image.dataSync();
    const want = reference(x0, grads, 0.01, 0.9, 0.99, 1e-7);
    for (let i = 0; i < n; i++)
      assert.ok(Math.abs(got[i]! - want[i]!) < 2e-7, `pixel ${i}: ${got[i]} against ${want[i]}`);
    assert.ok(want.some((x) => x === 0) && want.some((x) => x === 1), 'the case clips at both bounds');
    image.dispose();
    adam.dispose();
    assert.equal(tf.memory().numTensors, start - 1);
  });
});

for (const device of ['cpu', 'webgpu'] as const)
  describe(`Adam's update as one ONNX graph ${device === 'cpu' ? 'on the CPU provider (checked to the bit there)' : 'on the WebGPU device (lavapipe), as runs there take it'}`, () => {
    let kernels: OnnxAdam;
    before(async () => {
      if (device === 'webgpu') useLavapipe();
      await useWasm();
      await loadRuntime('native', 2);
      kernels = new OnnxAdam({ threads: 2, providers: device === 'cpu' ? undefined : ['webgpu'] });
    });
    after(() => kernels.release());

    it(`takes TensorFlow.js' steps${device === 'cpu' ? ' to the bit' : ' (1e-6)'}, moments included, and keeps no tensor`, async () => {
      const shape: [number, number, number, number] = [1, 6, 5, 3];
      const n = 6 * 5 * 3;
      const x0 = Array.from({ length: n }, (_, i) =>
        i % 3 === 0 ? 0.002 : i % 3 === 1 ? 0.998 : 0.5 + 0.4 * wave(9, i),
      );
      const grads = Array.from({ length: 5 }, (_, k) =>
        Array.from({ length: n }, (_, i) => wave(k, i) * 10 ** (i % 4)),
      );
      const [onnx, tensors] = [new Adam(0.01, 0.9, 0.99, 1e-7, kernels), new Adam(0.01, 0.9, 0.99)];
      let [a, b] = [tf.tensor4d(x0, shape), tf.tensor4d(x0, shape)];
      const start = tf.memory().numTensors;
      for (const g of grads) {
        const gradient = tf.tensor4d(g, shape);
        const costs = { total: 0, content: 0, style: 0, variation: 0 };
        const [ra, rb] = [await onnx.step(a, { gradient, costs }), await tensors.step(b, { gradient, costs })];
        assert.ok('image' in ra && 'image' in rb);
        gradient.dispose();
        tf.dispose([a, b]);
        [a, b] = [ra.image, rb.image];
      }
      const tolerance = device === 'cpu' ? 0 : 1e-6;
      const [sa, sb] = [onnx.getState().tensors, tensors.getState().tensors];
      for (const [what, got, want] of [
        ['image', a, b],
        ['m', sa['m']!, sb['m']!],
        ['v', sa['v']!, sb['v']!],
      ] as const) {
        const error = relativeMaxError(got.dataSync() as Float32Array, want.dataSync() as Float32Array);
        assert.ok(error <= tolerance, `${what}: ${error.toExponential(2)}`);
      }
      assert.equal(tf.memory().numTensors, start + 4, 'the two images and each optimizer its two moments');
      tf.dispose([a, b]);
      onnx.dispose();
      tensors.dispose();
    });
  });
