import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { NST } from '../../src/nst.js';
import { FeatureModel } from '../../src/engine/tfjs/features.js';
import { LBFGS } from '../../src/optim/lbfgs.js';
import { optimize } from '../../src/optim/loop.js';
import type { Evaluation, ProgressEvent } from '../../src/optim/types.js';
import { randomArray, useWasm, WEIGHTS } from '../helpers.js';

/** f(x) = Σ wᵢ (xᵢ − cᵢ)², with targets outside [0, 1] too: the bounded optimum is clip(c, 0, 1). */
function boundedQuadratic(n: number) {
  const c = tf.tensor4d(Float32Array.from(randomArray(n * n * 3, 5, -0.5, 1.5)), [1, n, n, 3]);
  const w = tf.tensor4d(Float32Array.from(randomArray(n * n * 3, 6, 1, 100)), [1, n, n, 3]); // condition number 100
  const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
    const [gradient, total] = tf.tidy(() => {
      const r = tf.sub(x, c);
      return [tf.mul(tf.mul(r, w), 2) as tf.Tensor4D, tf.sum(tf.mul(tf.square(r), w))];
    });
    const value = total.dataSync()[0]!;
    total.dispose();
    return { gradient, costs: { total: value, content: value, style: 0, variation: 0 } };
  };
  return { c, w, evaluate, dispose: () => tf.dispose([c, w]) };
}

describe('LBFGS', () => {
  before(useWasm);

  it('decreases the cost at every iteration, keeps pixels in [0, 1] and finds the bounded optimum', async () => {
    const problem = boundedQuadratic(8);
    const initial = tf.fill([1, 8, 8, 3], 0.5) as tf.Tensor4D;
    const events: ProgressEvent[] = [];
    const before = tf.memory().numTensors;
    const result = await optimize({
      initial,
      iterations: 60,
      evaluate: problem.evaluate,
      optimizer: new LBFGS(5, 1e-9),
      onProgress: (e) => void events.push(e),
    });
    assert.equal(tf.memory().numTensors, before + 1, 'only the best image is left');
    const costs = events.map((e) => e.costs.total);
    costs.slice(1).forEach((f, i) => assert.ok(f < costs[i]!, `iteration ${i + 1}: ${f} < ${costs[i]}`));
    assert.ok(
      events.every((e, i) => i === 0 || e.evaluations > events[i - 1]!.evaluations),
      'evaluations are counted',
    );
    // A final line search that finds no decrease (float32 at the optimum) still counts.
    assert.ok(result.evaluations >= events[events.length - 1]!.evaluations);
    const x = result.bestImage.dataSync();
    assert.ok(x.every((v) => v >= 0 && v <= 1));
    const optimum = tf.tidy(() => tf.clipByValue(problem.c, 0, 1)) as tf.Tensor4D;
    const optimalCost = await problem.evaluate(optimum);
    const gap = (result.bestCost - optimalCost.costs.total) / optimalCost.costs.total;
    // The cost is a float32 sum: near the optimum, decreases drown in its rounding and the run stalls.
    const error = Math.max(...x.map((v, i) => Math.abs(v - optimum.dataSync()[i]!)));
    const where = `(${result.reason} after ${result.iterations} iterations, ${result.evaluations} evaluations)`;
    assert.ok(gap < 1e-5, `relative cost gap ${gap} ${where}`);
    assert.ok(error < 1e-2, `max error ${error} ${where}`);
    tf.dispose([initial, result.bestImage, optimum, optimalCost.gradient]);
    problem.dispose();
  });

  it('stops on its tolerance before the budget', async () => {
    const problem = boundedQuadratic(4);
    const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const result = await optimize({
      initial,
      iterations: 500,
      evaluate: problem.evaluate,
      optimizer: new LBFGS(10, 1e-4),
    });
    assert.equal(result.reason, 'converged');
    assert.ok(result.iterations < 500, `${result.iterations} iterations`);
    tf.dispose([initial, result.bestImage]);
    problem.dispose();
  });
});

describe('NST with L-BFGS', () => {
  let nst: NST;
  let model: FeatureModel;
  const image = (h: number, w: number, seed: number) => ({
    data: randomArray(h * w * 3, seed, 0, 255).map(Math.round),
    shape: [h, w, 3],
  });
  before(async () => {
    await useWasm();
    model = await FeatureModel.load(WEIGHTS, [...NST.styleLayers, NST.contentLayer], 'avg');
    nst = await NST.create(image(32, 32, 1), image(24, 32, 2), { size: 32, model });
  });
  after(() => {
    nst.dispose();
    model.dispose();
  });

  it("lowers the style transfer cost below Adam's for the same iterations, in [0, 1], leaking nothing", async () => {
    const before = tf.memory().numTensors;
    const events: ProgressEvent[] = [];
    const [best, cost] = await nst.generateImage({
      iterations: 6,
      optimizer: 'lbfgs',
      init: 'style',
      onProgress: (e) => void events.push(e),
    });
    assert.equal(tf.memory().numTensors, before + 1);
    assert.ok(best.dataSync().every((v) => v >= 0 && v <= 1));
    assert.ok(cost < events[0]!.costs.total, `${cost} < ${events[0]!.costs.total}`);
    assert.ok(
      events.slice(1).every((e, i) => e.costs.total < events[i]!.costs.total),
      'monotone',
    );
    const [adamBest, adamCost] = await nst.generateImage({ iterations: 6, init: 'style' });
    assert.ok(cost < adamCost, `L-BFGS ${cost} < Adam ${adamCost}`);
    tf.dispose([best, adamBest]);
  });

  it('checks its options', async () => {
    const cases: [object, string, string][] = [
      [{ optimizer: 'sgd' }, 'RangeError', 'optimizer must be adam or lbfgs'],
      [{ history: 0 }, 'RangeError', 'history must be positive'],
      [{ tolerance: -1 }, 'RangeError', 'tolerance must be a non-negative number'],
      [{ init: 'photo' }, 'RangeError', 'init must be content, noise, style or an image'],
      [{ init: { data: [1], shape: [1, 1] } }, 'TypeError', 'init must be an array or tensor with shape (h, w, 3)'],
    ];
    for (const [options, name, message] of cases)
      await assert.rejects(nst.generateImage({ iterations: 1, ...options }), { name, message });
  });
});
