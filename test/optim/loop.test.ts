import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../../src/optim/adam.js';
import { LBFGS } from '../../src/optim/lbfgs.js';
import { hasConverged, optimize, resizeState, type Convergence } from '../../src/optim/loop.js';
import type { Evaluation, Optimizer } from '../../src/optim/types.js';
import { useWasm } from '../helpers.js';

/**
 * An objective whose cost is a given function of how many times it was evaluated (so of the
 * iteration for Adam), with a gradient that points into the box: the loop's stop sees only costs.
 */
function scripted(cost: (n: number) => number) {
  let n = 0;
  return async (x: tf.Tensor4D): Promise<Evaluation> => {
    const total = cost(n++);
    const gradient = tf.tidy(() => tf.sub(x, 0.25)) as tf.Tensor4D;
    return { gradient, costs: { total, content: total, style: 0, variation: 0 } };
  };
}

/** The first iteration i ≥ window at which best(i − window) − best(i) < threshold · best(i − window), by hand. */
function expectedStop(costs: number[], { window, threshold }: Convergence): number {
  const best = costs.map((_, i) => Math.min(...costs.slice(0, i + 1)));
  for (let i = window; i < best.length; i++) if (best[i - window]! - best[i]! < threshold * best[i - window]!) return i;
  return -1;
}

async function run(optimizer: Optimizer, cost: (n: number) => number, iterations: number, convergence?: Convergence) {
  const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const costs: number[] = [];
  const result = await optimize({
    initial,
    iterations,
    evaluate: scripted(cost),
    optimizer,
    convergence,
    onProgress: (e) => void costs.push(e.costs.total),
  });
  assert.equal(tf.memory().numTensors, before + 1, 'only the best image is left');
  tf.dispose([initial, result.bestImage]);
  return { result, costs };
}

describe('the convergence stop', () => {
  before(useWasm);

  it('compares the best cost now with the best cost a window ago', () => {
    const c = { window: 2, threshold: 0.1 };
    assert.equal(hasConverged([10, 9], c), false, 'not a whole window yet');
    assert.equal(hasConverged([10, 9.5, 8.9], c), false, '11% fell: not below 10%');
    assert.equal(hasConverged([10, 9.5, 9.2], c), true, '8% fell');
    assert.equal(hasConverged([10, 10, 10], { window: 2, threshold: 0 }), false, 'threshold 0 never stops');
  });

  it('ends an Adam run where the cost stops falling, and says so', async () => {
    // c(n) = 1 + 100 / (n + 1): the decrease over 10 iterations shrinks until it is below 1%.
    const cost = (n: number) => 1 + 100 / (n + 1);
    const convergence = { window: 10, threshold: 0.01 };
    const { result, costs } = await run(new Adam(0.01, 0.9, 0.99), cost, 1000, convergence);
    const all = Array.from({ length: 1001 }, (_, i) => cost(i));
    const stop = expectedStop(all, convergence);
    assert.ok(stop > 10 && stop < 1000, `${stop}`);
    assert.equal(result.reason, 'converged');
    assert.equal(result.iterations, stop);
    assert.equal(costs.length, stop + 1, 'iteration 0 to the stop are reported');
  });

  it('ends an L-BFGS run at the same rule, counted in iterations, not evaluations', async () => {
    // Rosenbrock's valley on pairs (a, b) = 2x: f = 1 + Σ (1 − a)² + 100 (b − a²)², minimum 1 at
    // x = 0.5. Its curved valley makes the line search backtrack (a separable quadratic would not:
    // the diagonal H₀ fits it exactly), and the decreases shrink as L-BFGS closes in.
    let evaluations = 0;
    const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
      evaluations++;
      const [gradient, total] = tf.tidy(() => {
        const [a, b] = tf.split(tf.reshape(tf.mul(x, 2), [-1, 2]), 2, 1) as [tf.Tensor2D, tf.Tensor2D];
        const bend = tf.sub(b, tf.square(a));
        const f = tf.add(1, tf.sum(tf.add(tf.square(tf.sub(1, a)), tf.mul(tf.square(bend), 100))));
        const ga = tf.sub(tf.mul(tf.sub(a, 1), 2), tf.mul(tf.mul(bend, a), 400));
        const gb = tf.mul(bend, 200);
        return [tf.reshape(tf.mul(tf.concat([ga, gb], 1), 2), x.shape) as tf.Tensor4D, f]; // d/dx = 2·d/du
      });
      const value = (await total.data())[0]!;
      total.dispose();
      return { gradient, costs: { total: value, content: value, style: 0, variation: 0 } };
    };
    const initial = tf.fill([1, 4, 4, 3], 0.1) as tf.Tensor4D;
    const costs: number[] = [];
    const convergence = { window: 3, threshold: 0.01 };
    const result = await optimize({
      initial,
      iterations: 500,
      evaluate,
      optimizer: new LBFGS(5, 0),
      convergence,
      onProgress: (e) => void costs.push(e.costs.total),
    });
    assert.equal(result.reason, 'converged');
    assert.equal(result.iterations, expectedStop(costs, convergence));
    assert.equal(costs.length, result.iterations + 1);
    assert.ok(evaluations > result.iterations + 1, `${evaluations} evaluations: the line search counts too`);
    tf.dispose([initial, result.bestImage]);
  });

  it('copies the start before it first awaits: the caller may release it as soon as the call returns', async () => {
    const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const running = optimize({ initial, iterations: 2, evaluate: scripted(() => 1), optimizer: new Adam() });
    initial.dispose(); // what stylize does with a scale's start
    const result = await running;
    assert.equal(result.iterations, 2);
    assert.deepEqual(Array.from(result.bestImage.dataSync()), new Array(48).fill(0.5), 'the start, kept as the best');
    result.bestImage.dispose();
  });

  it('runs the whole budget without it (threshold 0), and reports that', async () => {
    const { result } = await run(new Adam(0.01, 0.9, 0.99), () => 7, 30, { window: 5, threshold: 0 });
    assert.equal(result.reason, 'iterations');
    assert.equal(result.iterations, 30);
  });

  it('marks the last reported iteration, and saves the state when a stop comes as the loop ends anyway', async () => {
    const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const lasts: boolean[] = [];
    const stops: number[] = [];
    const result = await optimize({
      initial,
      iterations: 50,
      evaluate: scripted(() => 7), // flat: converged after one window
      optimizer: new Adam(0.01, 0.9, 0.99),
      convergence: { window: 4, threshold: 0.01 },
      onProgress: (e) => void lasts.push(Boolean(e.last)),
      shouldStop: () => lasts.length === 5, // Ctrl-C during the last iteration
      onState: (state, stopping) => void (stopping && stops.push(state.iteration)),
    });
    assert.deepEqual(lasts, [false, false, false, false, true]);
    assert.equal(result.reason, 'converged');
    assert.deepEqual(stops, [4], 'the checkpoint of the stop is taken');
    tf.dispose([initial, result.bestImage]);
  });

  it("reports 'interrupted' when asked to stop", async () => {
    const initial = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    let asked = 0;
    const result = await optimize({
      initial,
      iterations: 100,
      evaluate: scripted((n) => 100 - n),
      optimizer: new Adam(0.01, 0.9, 0.99),
      shouldStop: () => ++asked > 3,
    });
    assert.equal(result.reason, 'interrupted');
    assert.equal(result.iterations, 3);
    tf.dispose([initial, result.bestImage]);
  });
});

describe('iterate averaging', () => {
  before(useWasm);

  it('returns the bias-corrected moving average of the iterates, with its own cost, and leaves no tensor', async () => {
    // f(x) = Σ (x − t)² over a small image: Adam's iterates oscillate about t.
    const target = Float64Array.from({ length: 2 * 3 * 3 }, (_, i) => Math.fround((i % 7) / 7));
    const t = tf.tensor4d(Float32Array.from(target), [1, 2, 3, 3]);
    const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
      const total = tf.tidy(() => tf.sum(tf.square(tf.sub(x, t))).dataSync()[0]!);
      const gradient = tf.tidy(() => tf.mul(tf.sub(x, t), 2) as tf.Tensor4D);
      return { gradient, costs: { total, content: total, style: 0, variation: 0 } };
    };
    const initial = tf.fill([1, 2, 3, 3], 0.5) as tf.Tensor4D;
    const decay = 0.9;
    const iterates: Float64Array[] = [];
    const before = tf.memory().numTensors;
    const result = await optimize({
      initial,
      iterations: 12,
      evaluate,
      optimizer: new Adam(0.1, 0.9, 0.99),
      average: decay,
      onState: (state) => void iterates.push(Float64Array.from(state.image.dataSync())),
    });
    // In float64 from the reported iterates: s ← d·s + (1 − d)·x, ā = s / (1 − dᵏ).
    const sum = new Float64Array(target.length);
    for (const x of iterates) x.forEach((v, i) => (sum[i] = decay * sum[i]! + (1 - decay) * v));
    const want = sum.map((v) => v / (1 - decay ** iterates.length));
    const got = result.bestImage.dataSync();
    assert.equal(iterates.length, 13, 'iteration 0 and 12 steps');
    want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-6, `${i}: ${got[i]} vs ${v}`));
    const cost = want.reduce((a, v, i) => a + (v - target[i]!) ** 2, 0);
    assert.ok(Math.abs(result.bestCost - cost) < 1e-5 * Math.max(1, cost), `${result.bestCost} vs ${cost}`);
    assert.equal(result.evaluations, 14, 'one more evaluation: the average');
    assert.equal(tf.memory().numTensors, before + 1, 'only the result is left');
    tf.dispose([initial, t, result.bestImage]);
  });
});

describe('carrying the optimizer to the next scale', () => {
  before(useWasm);

  it("hands Adam's final state on, and resizes its moments bilinearly, the step count kept", async () => {
    const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
      const gradient = tf.tidy(() => tf.sub(x, 0.3)) as tf.Tensor4D;
      return { gradient, costs: { total: 1, content: 1, style: 0, variation: 0 } };
    };
    const initial = tf.fill([1, 2, 2, 3], 0.5) as tf.Tensor4D;
    const result = await optimize({ initial, iterations: 3, evaluate, optimizer: new Adam(), keepState: true });
    const state = result.optimizerState!;
    assert.equal(state.values['t'], 3);
    assert.deepEqual(state.tensors['m']!.shape, [1, 2, 2, 3]);
    const resized = resizeState(state, 4, 6);
    assert.equal(resized.values['t'], 3);
    for (const name of ['m', 'v']) {
      const before = state.tensors[name]!.dataSync();
      const after = resized.tensors[name]!.dataSync();
      assert.deepEqual(resized.tensors[name]!.shape, [1, 4, 6, 3]);
      // A constant field (every pixel moved alike) stays that constant.
      assert.ok(after.every((v) => Math.abs(v - before[0]!) < 1e-7 * Math.max(1, Math.abs(before[0]!))));
    }
    tf.dispose([initial, result.bestImage, ...Object.values(state.tensors), ...Object.values(resized.tensors)]);
  });
});
