import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { NST } from '../../src/nst.js';
import { FeatureModel } from '../../src/engine/tfjs/features.js';
import { diagonalScaling, inverseHessianTimes, LBFGS, type Pair } from '../../src/optim/lbfgs.js';
import { optimize } from '../../src/optim/loop.js';
import type { ProgressEvent } from '../../src/optim/types.js';
import { randomArray, useWasm, WEIGHTS } from '../helpers.js';
import { boundedQuadratic, denseInverseHessianTimes, positivePairs } from './bfgs-reference.js';

describe('LBFGS', () => {
  before(useWasm);

  it("two-loop recursion with the diagonal H₀ equals the dense BFGS update's H·q (float64)", () => {
    const n = 12;
    const shape: [number, number, number, number] = [1, 2, 2, 3];
    const pairs64 = positivePairs(n, [21, 22, 23, 24]);
    const q64 = randomArray(n, 31);
    const v64 = randomArray(n, 32, 0.01, 2).map((x) => x ** 4); // gradient sizes spread over 10⁴
    const pairs: Pair[] = pairs64.map(({ s, y }) => ({
      s: tf.tensor4d(Float32Array.from(s), shape),
      y: tf.tensor4d(Float32Array.from(y), shape),
      rho: 1 / s.reduce((t, x, i) => t + x * y[i]!, 0),
    }));
    const q = tf.tensor4d(Float32Array.from(q64), shape);
    const v = tf.tensor4d(Float32Array.from(v64), shape);
    const before = tf.memory().numTensors;
    const scaling = diagonalScaling(v);
    const r = inverseHessianTimes(q, pairs, scaling);
    const got = r.dataSync();
    tf.dispose([r, scaling]);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    const expected = denseInverseHessianTimes(q64, pairs64, v64);
    const error = (want: ArrayLike<number>) =>
      Math.max(...got.map((x, i) => Math.abs(x - want[i]!))) / Math.max(...Array.from(want, Math.abs));
    assert.ok(error(expected) < 1e-4, `relative error ${error(expected)}`);
    // The diagonal matters here: with D = I (v constant) the answer is far from this one.
    const scalar = denseInverseHessianTimes(q64, pairs64, new Float64Array(n).fill(1));
    assert.ok(error(scalar) > 1e-2, `scalar H₀ differs by ${error(scalar)}`);
    tf.dispose([q, v, ...pairs.flatMap((p) => [p.s, p.y])]);
  });

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

  it("keeps H₀'s running mean v = 0.9·v + 0.1·g² of the full gradient, and restores it without leaking", async () => {
    const problem = boundedQuadratic(4);
    const x0 = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const lbfgs = new LBFGS(5, 0);
    const e0 = await problem.evaluate(x0);
    const first = await lbfgs.step(x0, e0, problem.evaluate);
    assert.ok('image' in first && first.evaluation, 'the first step is taken');
    const second = await lbfgs.step(first.image, first.evaluation, problem.evaluate);
    assert.ok('image' in second && second.evaluation, 'the second step is taken');
    const g0 = Float64Array.from(e0.gradient.dataSync());
    const g1 = Float64Array.from(first.evaluation.gradient.dataSync());
    const state = lbfgs.getState();
    const v = state.tensors['squaredGradient']!.dataSync();
    const error = Math.max(...g0.map((g, i) => Math.abs(v[i]! - (0.9 * g * g + 0.1 * g1[i]! ** 2)) / (g * g)));
    assert.ok(error < 1e-5, `relative error ${error}`);
    // A second instance restored twice from it holds one copy, released with it.
    const restored = new LBFGS(5, 0);
    restored.setState(state);
    restored.setState(state);
    assert.deepEqual(restored.getState().tensors['squaredGradient']!.dataSync(), v);
    restored.dispose();
    lbfgs.dispose();
    tf.dispose([e0.gradient, first.image, first.evaluation.gradient, second.image, second.evaluation.gradient]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(x0);
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
