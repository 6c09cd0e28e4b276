import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadRuntime } from '../../src/engine/onnx/runtime.js';
import { OnnxLbfgs } from '../../src/engine/onnx/lbfgs.js';
import { diagonalScaling, LBFGS, tensorKernels, TensorPairs } from '../../src/optim/lbfgs.js';
import { optimize } from '../../src/optim/loop.js';
import { isHostVector, type CurvaturePairs } from '../../src/optim/types.js';
import { collectGarbage, randomArray, relativeMaxError, useWasm, useLavapipe } from '../helpers.js';
import { boundedQuadratic, denseInverseHessianTimes, positivePairs } from '../optim/bfgs-reference.js';

const SHAPE: [number, number, number, number] = [1, 2, 2, 3];
const N = 12;
const f32 = (a: Float64Array) => tf.tensor4d(Float32Array.from(a), SHAPE);
const dot64 = (a: Float64Array, b: Float64Array) => a.reduce((t, x, i) => t + x * b[i]!, 0);

async function pushAll(holder: CurvaturePairs, pairs: { s: Float64Array; y: Float64Array }[]) {
  for (const { s, y } of pairs) {
    const [st, yt] = [f32(s), f32(y)];
    await holder.push(st, yt, 1 / dot64(s, y));
    tf.dispose([st, yt]); // the holder copied them
  }
}

async function timesOf(holder: CurvaturePairs, q64: Float64Array, v64: Float64Array): Promise<Float32Array> {
  const [q, v] = [f32(q64), f32(v64)];
  const scaling = diagonalScaling(v);
  const r = await holder.times(q, scaling);
  const data = r.dataSync() as Float32Array;
  tf.dispose([q, v, scaling, r]);
  return data;
}

for (const device of ['cpu', 'webgpu'] as const)
  describe(`L-BFGS on ONNX Runtime's ${device === 'cpu' ? 'CPU threads' : 'WebGPU device (lavapipe)'}: the pairs (the vector-free recursion) and the step's arithmetic`, () => {
    let onnx: OnnxLbfgs;
    /** A GPU's elementwise functions (sqrt, 1/x) are not correctly rounded as the CPU's are. */
    const rounding = device === 'cpu' ? 0 : 1e-5;
    before(async () => {
      if (device === 'webgpu') useLavapipe();
      await useWasm();
      await loadRuntime('native', 2);
      onnx = new OnnxLbfgs(2, device);
    });
    after(() => onnx.release());

    const pairs64 = positivePairs(N, [41, 42, 43, 44, 45, 46, 47]);
    const q64 = randomArray(N, 51);
    const v64 = randomArray(N, 52, 0.01, 2).map((x) => x ** 4);

    it("gives the dense BFGS update's H·q (float64) over the newest pairs as the ring of rows wraps", async () => {
      const before = tf.memory().numTensors;
      const holder = onnx.pairs(3);
      for (let k = 1; k <= pairs64.length; k++) {
        await pushAll(holder, pairs64.slice(k - 1, k));
        assert.equal(holder.length, Math.min(k, 3));
        const want = denseInverseHessianTimes(q64, pairs64.slice(Math.max(0, k - 3), k), v64);
        const error = relativeMaxError(await timesOf(holder, q64, v64), want);
        assert.ok(error < 1e-5, `${k} pairs pushed: relative error ${error.toExponential(2)}`);
      }
      holder.dispose();
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    });

    it("equals TensorFlow.js' two-loop recursion, and a holder restored from its list gives exactly the same", async () => {
      const held = onnx.pairs(4);
      const tensors = new TensorPairs(4);
      await pushAll(held, pairs64);
      await pushAll(tensors, pairs64);
      const got = await timesOf(held, q64, v64);
      assert.ok(relativeMaxError(got, await timesOf(tensors, q64, v64)) < 1e-5);
      const listed = held.list();
      assert.equal(listed.length, 4);
      listed.forEach(({ s, rho }, i) => {
        assert.ok(isHostVector(s), 'listed where they are held, not copied into tensors');
        assert.ok(relativeMaxError(s.data, pairs64[3 + i]!.s) < 1e-6, `pair ${i} oldest first`);
        assert.ok(Math.abs(rho * dot64(pairs64[3 + i]!.s, pairs64[3 + i]!.y) - 1) < 1e-12);
      });
      // Restored at the same places (the ring has wrapped), it computes exactly as the original.
      assert.equal(held.offset, 7 % 4);
      const restored = onnx.pairs(4);
      restored.restore(listed, held.offset);
      assert.deepEqual(await timesOf(restored, q64, v64), got);
      const smaller = onnx.pairs(2);
      smaller.restore(listed); // a shorter history keeps the newest
      const want = denseInverseHessianTimes(q64, pairs64.slice(-2), v64);
      assert.ok(relativeMaxError(await timesOf(smaller, q64, v64), want) < 1e-5);
      for (const holder of [held, tensors, restored, smaller]) holder.dispose();
    });

    it("computes the step's arithmetic as TensorFlow.js does: projection, H₀'s diagonal, descent, trial point, pair", async () => {
      const shape: [number, number, number, number] = [1, 5, 7, 3];
      const size = 5 * 7 * 3;
      // Pixels at both bounds with gradients of both signs, so that the mask has both values.
      const x = tf.tensor4d(
        Float32Array.from(randomArray(size, 61, -0.3, 1.3), (v) => Math.min(1, Math.max(0, v))),
        shape,
      );
      const [g, g2, r, d] = [62, 63, 65, 66].map((seed) =>
        tf.tensor4d(Float32Array.from(randomArray(size, seed)), shape),
      );
      const v = tf.tensor4d(Float32Array.from(randomArray(size, 64, 0, 1)), shape); // a mean of squares
      const { kernels } = onnx;
      const before = tf.memory().numTensors;
      const close = (a: tf.Tensor, b: tf.Tensor, what: string, tolerance = 1e-6) => {
        const error = relativeMaxError(a.dataSync(), b.dataSync());
        assert.ok(error <= tolerance, `${what}: ${error.toExponential(2)}`);
      };
      for (const previous of [null, v]) {
        const [got, want] = [await kernels.project(x, g!, previous), await tensorKernels.project(x, g!, previous)];
        assert.deepEqual(got.free.dataSync(), want.free.dataSync(), 'free mask');
        assert.ok(got.free.dataSync().includes(0) && got.free.dataSync().includes(1));
        close(got.v, want.v, 'v', rounding);
        close(got.pg, want.pg, 'pg', 0);
        close(got.scaling, want.scaling, 'scaling', 1e-5); // its means summed in another order
        assert.equal(got.norm, want.norm);
        tf.dispose([got.v, got.free, got.pg, got.scaling, want.v, want.free, want.pg, want.scaling]);
      }
      const free = tf.tidy(() => tf.cast(tf.greater(x, 0.5), 'float32')) as tf.Tensor4D;
      const [descent, descent0] = [await kernels.descent(r!, free, g!), await tensorKernels.descent(r!, free, g!)];
      close(descent.d, descent0.d, 'd');
      assert.ok(Math.abs(descent.slope / descent0.slope - 1) < 1e-6);
      const [trial, trial0] = [await kernels.trial(x, d!, 0.7, g!), await tensorKernels.trial(x, d!, 0.7, g!)];
      close(trial.trial, trial0.trial, 'trial');
      assert.ok(Math.abs(trial.decrease / trial0.decrease - 1) < 1e-5);
      const [pair, pair0] = [
        await kernels.pair(x, g!, trial.trial, g2!),
        await tensorKernels.pair(x, g!, trial0.trial, g2!),
      ];
      close(pair.s, pair0.s, 's');
      close(pair.y, pair0.y, 'y');
      for (const key of ['ys', 'ss', 'yy'] as const) assert.ok(Math.abs(pair[key] / pair0[key] - 1) < 1e-5, key);
      tf.dispose([free, descent.d, descent0.d, trial.trial, trial0.trial, pair.s, pair.y, pair0.s, pair0.y]);
      assert.equal(tf.memory().numTensors, before, 'every tensor released');
      tf.dispose([x, g!, g2!, v, r!, d!]);
    });

    it('does not grow from one iteration to the next, the pairs held at their capacity (lavapipe keeps device buffers in host memory)', async () => {
      const shape: [number, number, number, number] = [1, 128, 128, 3];
      const size = 128 * 128 * 3;
      const holder = onnx.pairs(4);
      const vectors = [71, 72, 73].map((seed) => tf.tensor4d(Float32Array.from(randomArray(size, seed)), shape));
      const [s, y, q] = vectors as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const scaling = tf.onesLike(q);
      const iterate = async (count: number) => {
        for (let i = 0; i < count; i++) {
          await holder.push(s, y, 1 / (i + 1));
          (await holder.times(q, scaling)).dispose();
        }
      };
      collectGarbage();
      await iterate(80); // the ring full, every session started, the allocators at their level
      collectGarbage();
      const [tensors, rss] = [tf.memory().numTensors, process.memoryUsage().rss];
      await iterate(80); // a leaked pair of device matrices would be 1.6 MB an iteration
      collectGarbage();
      assert.equal(tf.memory().numTensors, tensors);
      const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
      // The threads' malloc arenas alone move the level by up to ~30 MiB.
      assert.ok(grown < 48, `resident memory grew by ${grown.toFixed(1)} MiB over 80 iterations`);
      holder.dispose();
      tf.dispose([s, y, q, scaling]);
    });

    it('runs L-BFGS to the bounded optimum of a quadratic along the path of the TensorFlow.js pairs', async () => {
      const n = 8;
      const { c, evaluate, dispose } = boundedQuadratic(n);
      const run = async (runtime?: OnnxLbfgs) => {
        const initial = tf.fill([1, n, n, 3], 0.5) as tf.Tensor4D;
        const optimizer = new LBFGS(5, 0, undefined, runtime);
        const costs: number[] = [];
        const result = await optimize({
          initial,
          iterations: 60,
          evaluate,
          optimizer,
          onProgress: (e) => void costs.push(e.costs.total),
        });
        initial.dispose();
        return { result, costs };
      };
      const before = tf.memory().numTensors;
      const viaOnnx = await run(onnx);
      const tensors = await run();
      // Rounding parts the two paths only near the optimum, where the float32 cost stalls both.
      viaOnnx.costs
        .slice(0, 10)
        .forEach((cost, i) => assert.ok(Math.abs(cost / tensors.costs[i]! - 1) < 1e-4, `iteration ${i}`));
      const optimum = tf.clipByValue(c, 0, 1);
      const error = relativeMaxError(viaOnnx.result.bestImage.dataSync(), optimum.dataSync());
      assert.ok(error < 1e-2, `${error} from the optimum after ${viaOnnx.result.iterations} iterations`);
      tf.dispose([optimum, viaOnnx.result.bestImage, tensors.result.bestImage]);
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      dispose();
    });
  });
