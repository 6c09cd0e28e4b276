import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { resizeBicubic, scaleImage, scaledSize } from '../../src/core/resize.js';
import { assertClose, randomImage } from '../helpers.js';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Keys' cubic kernel, a = -0.5, written out piecewise. */
function cubic(x: number): number {
  const t = Math.abs(x);
  if (t <= 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
  if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
  return 0;
}

/**
 * Straightforward float64 reference of TF's bicubic resize (half-pixel centres): for each output
 * pixel, a direct sum over the 4x4 source taps that lie inside the image, divided by the sum of
 * their weights. Like TF, the fractional source position is rounded to a multiple of 1/1024.
 */
function referenceResize(src: Float64Array, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * c);
  const sample = (i: number, inSize: number, outSize: number) => {
    const pos = ((i + 0.5) * inSize) / outSize - 0.5;
    const base = Math.floor(pos);
    const frac = Math.round((pos - base) * 1024) / 1024;
    return { base, frac };
  };
  for (let oy = 0; oy < oh; oy++) {
    const y = sample(oy, h, oh);
    for (let ox = 0; ox < ow; ox++) {
      const x = sample(ox, w, ow);
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        let weightSum = 0;
        for (let dy = -1; dy <= 2; dy++) {
          for (let dx = -1; dx <= 2; dx++) {
            const sy = y.base + dy;
            const sx = x.base + dx;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const weight = cubic(dy - y.frac) * cubic(dx - x.frac);
            sum += weight * src[(sy * w + sx) * c + ch];
            weightSum += weight;
          }
        }
        out[(oy * ow + ox) * c + ch] = sum / weightSum;
      }
    }
  }
  return out;
}

describe('resizeBicubic', () => {
  const cases: Array<[string, number, number, number, number, number]> = [
    // name, h, w, c, outH, outW
    ['downscale 37x23 -> 16x11', 37, 23, 3, 16, 11],
    ['upscale 7x5 -> 20x13', 7, 5, 3, 20, 13],
    ['mixed 9x30 -> 14x8, 2 channels', 9, 30, 2, 14, 8],
    ['same size 6x9', 6, 9, 3, 6, 9],
  ];
  for (const [name, h, w, c, oh, ow] of cases) {
    it(`matches the float64 reference: ${name}`, () => {
      const src = randomImage(h, w, c, h * 1000 + w);
      const expected = referenceResize(src, h, w, c, oh, ow);
      const input = tf.tensor4d(Float32Array.from(src), [1, h, w, c]);
      const out = resizeBicubic(input, oh, ow);
      assert.deepEqual(out.shape, [1, oh, ow, c]);
      assertClose(out.dataSync(), expected, 255 * 1e-5, name);
      tf.dispose([input, out]);
    });
  }

  it('same size is the identity, exactly', () => {
    const src = Float32Array.from(randomImage(5, 4, 3, 7));
    const input = tf.tensor3d(src, [5, 4, 3]);
    const out = resizeBicubic(input, 5, 4);
    input.dispose(); // the result must not share the caller's tensor
    assert.deepEqual(out.shape, [5, 4, 3]);
    assert.deepEqual(out.dataSync(), src);
    out.dispose();
  });

  it('hand-checked: 1-D upscale of [0, 1] to 4 pixels (rank 3 stays rank 3)', () => {
    // Source positions (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25. Keys weights (a = -0.5):
    // W(0.25) = 0.8671875, W(0.75) = 0.2265625, W(1.25) = -0.0703125; taps outside are dropped.
    // out0 = (0 * W(0.25) + 1 * W(1.25)) / (W(0.25) + W(1.25)) = -0.0703125 / 0.796875 = -3/34
    // out1 = (0 * W(0.25) + 1 * W(0.75)) / (W(0.25) + W(0.75)) = 0.2265625 / 1.09375 = 29/140
    // out2 and out3 by symmetry: 1 - 29/140 = 111/140 and 1 + 3/34 = 37/34.
    const input = tf.tensor3d([0, 1], [1, 2, 1]);
    const out = resizeBicubic(input, 1, 4);
    assert.deepEqual(out.shape, [1, 4, 1]);
    assertClose(out.dataSync(), [-3 / 34, 29 / 140, 111 / 140, 37 / 34], 1e-6, 'upscale [0, 1]');
    tf.dispose([input, out]);
  });

  it('hand-checked: 4 -> 2 downscale along the height', () => {
    // Source positions (i + 0.5) * 2 - 0.5 = 0.5 and 2.5: weights W(1.5), W(0.5), W(0.5), W(1.5)
    // = -0.0625, 0.5625, 0.5625, -0.0625 on taps floor - 1 .. floor + 2; one tap falls outside
    // each time, so the rest is divided by 1.0625: out0 = (9 v0 + 9 v1 - v2) / 17 and
    // out1 = (-v1 + 9 v2 + 9 v3) / 17. With v = [1, 2, 4, 8]: 23/17 and 106/17.
    const input = tf.tensor4d([1, 2, 4, 8], [1, 4, 1, 1]);
    const out = resizeBicubic(input, 2, 1);
    assertClose(out.dataSync(), [23 / 17, 106 / 17], 1e-5, 'downscale');
    tf.dispose([input, out]);
  });

  it('rejects bad sizes and leaks no tensors', () => {
    const input = tf.zeros([3, 3, 3]) as tf.Tensor3D;
    assert.throws(() => resizeBicubic(input, 0, 3));
    assert.throws(() => resizeBicubic(input, 2.5, 3));
    const before = tf.memory().numTensors;
    resizeBicubic(input, 5, 2).dispose();
    const input4 = tf.expandDims(input, 0) as tf.Tensor4D;
    resizeBicubic(input4, 2, 5).dispose();
    assert.equal(tf.memory().numTensors, before + 1);
    tf.dispose([input, input4]);
  });
});

describe('scaledSize and scaleImage', () => {
  it('scaledSize makes the larger side maxSide', () => {
    assert.deepEqual(scaledSize(768, 1024, 512), [384, 512]);
    assert.deepEqual(scaledSize(800, 600, 512), [512, 384]);
    assert.deepEqual(scaledSize(100, 100, 64), [64, 64]);
    assert.deepEqual(scaledSize(1000, 3, 100), [100, 1]); // 0.3 rounds to 0, kept at 1
    assert.deepEqual(scaledSize(100, 50, 201), [201, 101]); // 100.5 rounds up
  });

  it('resizes to the larger side, values in [0, 1]', () => {
    for (const [h, w, expected] of [
      [768, 1024, [1, 384, 512, 3]],
      [600, 800, [1, 384, 512, 3]],
      [800, 600, [1, 512, 384, 3]],
    ] as const) {
      const raw = tf.randomUniform([h, w, 3], 0, 255, 'float32', 1) as tf.Tensor3D;
      const before = tf.memory().numTensors;
      const scaled = scaleImage(raw);
      assert.equal(tf.memory().numTensors, before + 1, 'only the result stays');
      assert.deepEqual(scaled.shape, expected);
      const [min, max] = [scaled.min().dataSync()[0], scaled.max().dataSync()[0]];
      assert.ok(min >= 0 && max <= 1, `values in [0, 1], got ${min}..${max}`);
      assert.ok(max > 0.9 && min < 0.1, 'values are not squashed');
      tf.dispose([raw, scaled]);
    }
  });

  it('a constant 255 image becomes all 1', () => {
    const raw = tf.fill([300, 200, 3], 255) as tf.Tensor3D;
    const scaled = scaleImage(raw, 128);
    assert.deepEqual(scaled.shape, [1, 128, 85, 3]);
    assertClose(scaled.dataSync(), new Float32Array(128 * 85 * 3).fill(1), 1e-6, 'constant');
    tf.dispose([raw, scaled]);
  });

  it('is the bicubic resize divided by 255 and clipped', () => {
    const src = randomImage(10, 7, 3, 3);
    const raw = tf.tensor3d(Float32Array.from(src), [10, 7, 3]);
    const scaled = scaleImage(raw, 6);
    const expected = referenceResize(src, 10, 7, 3, 6, 4).map((v) => Math.min(1, Math.max(0, v / 255)));
    assertClose(scaled.dataSync(), expected, 1e-5, 'scaleImage');
    tf.dispose([raw, scaled]);
  });
});
