import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { composite, greyMask, maskAt, regionsAt, softMask, softness } from '../../src/core/masks.js';
import { useWasm } from '../helpers.js';

/** White left of column `edge`, black right of it, [h, w]. */
const step = (h: number, w: number, edge: number) =>
  tf.tensor2d(
    Float32Array.from({ length: h * w }, (_, p) => (p % w < edge ? 1 : 0)),
    [h, w],
  );

describe('masks', () => {
  before(useWasm);

  it('reads a mask as the grey level of an image, in [0, 1]', () => {
    const image = tf.tensor3d([0, 0, 0, 255, 255, 255, 30, 60, 90, 300, 300, 300], [2, 2, 3]);
    const grey = Array.from(greyMask(image).dataSync());
    [0, 1, 60 / 255, 1].forEach((v, i) => assert.ok(Math.abs(grey[i]! - v) < 1e-6, `${grey[i]} vs ${v}`));
  });

  it('stretches a mask to the working size', () => {
    const mask = maskAt(step(4, 8, 4), 8, 16);
    assert.deepEqual(mask.shape, [8, 16]);
    const row = Array.from(mask.dataSync().slice(0, 16));
    assert.deepEqual(row.slice(0, 7), [1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(row.slice(9), [0, 0, 0, 0, 0, 0, 0]);
  });

  it('softens the subject mask by a Gaussian of 1/200 of the longest side: exact away from the edge, monotone across it', () => {
    const [h, w] = [40, 400];
    const sigma = softness(h, w);
    assert.equal(sigma, 2);
    const soft = softMask(step(h, w, 200), h, w);
    const row = Array.from(soft.dataSync().slice(0, w));
    const reach = Math.ceil(3 * sigma);
    assert.ok(
      row.slice(0, 200 - reach).every((v) => Math.abs(v - 1) < 1e-6),
      'white beyond the edge',
    );
    assert.ok(
      row.slice(200 + reach).every((v) => v === 0),
      'black beyond the edge',
    );
    assert.ok(
      row.every((v, x) => x === 0 || v <= row[x - 1]!),
      'monotone',
    );
    // The Gaussian's own values: half at the edge (x = 199.5), Φ(−1.25) = 0.1056 at pixel 202.
    assert.ok(Math.abs((row[199]! + row[200]!) / 2 - 0.5) < 1e-3);
    assert.ok(Math.abs(row[202]! - 0.1056) < 0.005, String(row[202]));
    // A mask white to the image's border stays white there (the border is mirrored).
    const full = softMask(step(h, w, w), h, w);
    assert.ok(full.dataSync().every((v) => Math.abs(v - 1) < 1e-6));
    tf.dispose([soft, full]);
  });

  it('composites the result over the photo through the soft mask', () => {
    const result = tf.fill([2, 2, 3], 200) as tf.Tensor3D;
    const photo = tf.fill([2, 2, 3], 100) as tf.Tensor3D;
    const soft = tf.tensor2d([1, 0.25, 0, 0.5], [2, 2]);
    const out = composite(result, photo, soft).dataSync();
    assert.deepEqual(Array.from(out.filter((_, i) => i % 3 === 0)), [200, 125, 100, 150]);
  });

  it('makes the regions: each style where its mask is and the subject is, or the blend where the subject is', () => {
    const left = step(4, 4, 2);
    const all = tf.ones([4, 4]) as tf.Tensor2D;
    const subject = step(4, 4, 1);
    assert.equal(regionsAt({ style: null, subject: null }, 4, 4), null);
    const blend = regionsAt({ style: null, subject }, 4, 4)!;
    assert.deepEqual(blend.styles, [null]);
    assert.deepEqual(Array.from(blend.masks[0]!.dataSync().slice(0, 4)), [1, 0, 0, 0]);
    const own = regionsAt({ style: [left, all], subject }, 4, 4)!;
    assert.deepEqual(own.styles, [0, 1]);
    assert.deepEqual(Array.from(own.masks[1]!.dataSync().slice(0, 4)), [1, 0, 0, 0], 'within the subject');
    const free = regionsAt({ style: [left, all], subject: null }, 4, 4)!;
    assert.deepEqual(Array.from(free.masks[0]!.dataSync().slice(0, 4)), [1, 1, 0, 0]);
    tf.dispose([left, all, subject, ...blend.masks, ...own.masks, ...free.masks]);
  });
});
