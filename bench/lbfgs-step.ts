// The L-BFGS iteration's work beside the evaluation (projection, direction, line-search arithmetic,
// the pair's bookkeeping) at an image size, with its pairs on TensorFlow.js (the two-loop
// recursion, one element-wise op at a time) and on ONNX Runtime's CPU threads (the vector-free
// recursion of engine/onnx/curvature.ts), in the same run. The objective is a diagonal quadratic
// over the image (condition number 1e6, part of its optimum outside [0, 1]) evaluated in
// TensorFlow.js; its time is measured and taken out. With `--device webgpu`, one more row: the
// pairs and the arithmetic on the WebGPU device (engine/onnx/device-pairs.ts).
//   node dist/bench/lbfgs-step.js [--height 384] [--width 512] [--pairs 100] [--measured 10] [--threads 2]
//     [--device webgpu]
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/tfjs/backend.js';
import { loadRuntime } from '../src/engine/onnx/runtime.js';
import { OnnxLbfgs } from '../src/engine/onnx/lbfgs.js';
import { LBFGS, tensorKernels, tensorPairs } from '../src/optim/lbfgs.js';
import type { Evaluation, LbfgsRuntime } from '../src/optim/types.js';
import { numberOption, option } from './options.js';

const [H, W, PAIRS, MEASURED, THREADS] = [
  numberOption('height', 384),
  numberOption('width', 512),
  numberOption('pairs', 100),
  numberOption('measured', 10),
  numberOption('threads', 2),
];
const shape: [number, number, number, number] = [1, H, W, 3];

const random = (seed: number, lo: number, hi: number) => {
  let x = seed;
  return Float32Array.from(
    { length: H * W * 3 },
    () => lo + ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * (hi - lo),
  );
};

/** Mean ms per iteration beside the evaluation, `PAIRS` pairs held. */
async function measure(runtime: LbfgsRuntime): Promise<{ ms: number; pairs: number; cost: number }> {
  const c = tf.tensor4d(random(1, -0.5, 1.5), shape);
  const a = tf.tensor4d(
    random(2, 0, 6).map((e) => 10 ** e),
    shape,
  );
  let evaluating = 0;
  const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
    const started = performance.now();
    const [gradient, total] = tf.tidy(() => {
      const r = tf.sub(x, c);
      return [tf.mul(tf.mul(r, a), 2) as tf.Tensor4D, tf.sum(tf.mul(tf.square(r), a))];
    });
    const value = total.dataSync()[0]!;
    total.dispose();
    evaluating += performance.now() - started;
    return { gradient, costs: { total: value, content: value, style: 0, variation: 0 } };
  };
  // A full history to start from: pairs that fit the quadratic (y = 2a·s), as a run would have gathered.
  const lbfgs = new LBFGS(PAIRS, 0, undefined, runtime);
  const tensors: Record<string, tf.Tensor> = {};
  const values: Record<string, number> = { pairs: PAIRS };
  for (let i = 0; i < PAIRS; i++) {
    const s = tf.tensor4d(random(10 + i, -0.01, 0.01), shape);
    const y = tf.tidy(() => tf.mul(tf.mul(s, a), 2)) as tf.Tensor4D;
    [tensors[`s${i}`], tensors[`y${i}`]] = [s, y];
    values[`rho${i}`] = 1 / tf.tidy(() => tf.sum(tf.mul(s, y))).dataSync()[0]!;
  }
  tensors['squaredGradient'] = tf.fill(shape, 1);
  lbfgs.setState({ tensors, values });
  tf.dispose(Object.values(tensors));
  let x = tf.fill(shape, 0.5) as tf.Tensor4D;
  let current = await evaluate(x);
  let [ms, steps] = [0, 0];
  for (let i = 0; i <= MEASURED; i++) {
    const [before, started] = [evaluating, performance.now()];
    const result = await lbfgs.step(x, current, evaluate);
    if ('stop' in result) throw new Error(`stopped (${result.stop}) at iteration ${i}`);
    const beside = performance.now() - started - (evaluating - before);
    if (i > 0) [ms, steps] = [ms + beside, steps + 1]; // the first completes a restored history's setup
    tf.dispose([x, current.gradient]);
    x = result.image;
    current = result.evaluation ?? (await evaluate(x));
  }
  const pairs = Number(lbfgs.getState().values['pairs']);
  const cost = current.costs.total;
  lbfgs.dispose();
  tf.dispose([x, current.gradient, c, a]);
  return { ms: ms / steps, pairs, cost };
}

await selectBackend('wasm', 1);
await loadRuntime('native', THREADS);
const onnx = new OnnxLbfgs(THREADS);
const gpu = option('device', 'cpu') === 'webgpu';
const device = gpu ? new OnnxLbfgs(THREADS, 'webgpu') : null;
const runs: [string, LbfgsRuntime][] = [
  ['TensorFlow.js wasm (two-loop recursion)', { pairs: tensorPairs, kernels: tensorKernels }],
  [`pairs on ONNX Runtime (vector-free), step on TensorFlow.js`, { pairs: onnx.pairs, kernels: tensorKernels }],
  [`all on ONNX Runtime (${THREADS} threads)`, onnx],
  ...(device ? [['all on the WebGPU device', device] as [string, LbfgsRuntime]] : []),
];
const results = [];
for (const [name, runtime] of runs) results.push({ name, ...(await measure(runtime)) });
onnx.release();
device?.release();
console.log(`L-BFGS iteration beside the evaluation, ${H}×${W} px, ${PAIRS} pairs, mean of ${MEASURED} iterations`);
console.log('| L-BFGS on | ms / iteration | × TensorFlow.js | pairs | cost after |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results)
  console.log(
    `| ${r.name} | ${r.ms.toFixed(1)} | ${(r.ms / results[0]!.ms).toFixed(2)} | ${r.pairs} | ${r.cost.toExponential(4)} |`,
  );
