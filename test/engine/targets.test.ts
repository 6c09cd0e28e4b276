import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { RecentStyles } from '../../src/engine/targets.js';

describe('the style cache of a long-lived engine', () => {
  it('keeps the most recently used entries and releases the others when trimmed', () => {
    const cache = new RecentStyles(2);
    const grams = (x: number) => [tf.fill([1, 2, 2], x) as tf.Tensor3D];
    const [a, b, c] = [grams(1), grams(2), grams(3)];
    cache.set('a', a);
    cache.set('b', b);
    assert.equal(cache.get('a'), a); // a is now the most recent
    cache.set('c', c);
    assert.equal(cache.size, 3, 'nothing is released while a computation may hold entries');
    cache.trim();
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined);
    assert.ok(b[0]!.isDisposed, 'the evicted entry is released');
    assert.ok(!a[0]!.isDisposed && !c[0]!.isDisposed);
    const before = tf.memory().numTensors;
    cache.clear();
    assert.equal(tf.memory().numTensors, before - 2);
  });
});
