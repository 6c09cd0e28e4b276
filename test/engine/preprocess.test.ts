import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { vggPreprocess } from '../../src/engine/tfjs/preprocess.js';
import { assertClose } from '../helpers.js';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('vggPreprocess', () => {
  it('matches a hand computation: x * 255, RGB -> BGR, minus the ImageNet means', () => {
    // RGB (0.2, 0.4, 0.6) * 255 = (51, 102, 153) -> BGR (153, 102, 51)
    // minus (103.939, 116.779, 123.68) = (49.061, -14.779, -72.68)
    const x = tf.tensor4d([0.2, 0.4, 0.6, 1, 0, 0], [1, 1, 2, 3]);
    const y = vggPreprocess(x);
    assert.deepEqual(y.shape, [1, 1, 2, 3]);
    assertClose(y.dataSync(), [49.061, -14.779, -72.68, -103.939, -116.779, 131.32], 1e-4, 'vgg');
    tf.dispose([x, y]);
  });

  it('is differentiable (d sum / dx = 255 everywhere)', () => {
    const x = tf.tensor4d([0.1, 0.5, 0.9, 0.3, 0.2, 0.7], [1, 2, 1, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(vggPreprocess(t as tf.Tensor4D)))(x);
    assertClose(g.dataSync(), new Array(6).fill(255), 1e-4, 'gradient');
    tf.dispose([x, g]);
  });
});
