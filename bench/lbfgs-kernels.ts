// Each of L-BFGS's step kernels on ONNX Runtime's CPU threads (engine/onnx/lbfgs.ts) at an image
// size, and what moving an image-sized vector between the runtimes costs: where the iteration's
// time beside the recursion goes.
//   node dist/bench/lbfgs-kernels.js [--height 384] [--width 512] [--runs 20] [--threads 2]
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/tfjs/backend.js';
import { loadRuntime } from '../src/engine/onnx/runtime.js';
import { OnnxLbfgs } from '../src/engine/onnx/lbfgs.js';
import { numberOption } from './options.js';

const [H, W, RUNS, THREADS] = [
  numberOption('height', 384),
  numberOption('width', 512),
  numberOption('runs', 20),
  numberOption('threads', 2),
];
const shape: [number, number, number, number] = [1, H, W, 3];
const n = H * W * 3;
const wave = (k: number, lo: number, hi: number) =>
  tf.tensor4d(
    Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * (Math.sin(i * k) + 1)) / 2),
    shape,
  );

/** Mean ms of `fn` (after three runs to warm up), every tensor it returns released. */
async function time(fn: () => Promise<object>): Promise<number> {
  const run = async () => tf.dispose(Object.values(await fn()).filter((t): t is tf.Tensor => t instanceof tf.Tensor));
  for (let i = 0; i < 3; i++) await run();
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) await run();
  return (performance.now() - started) / RUNS;
}

await selectBackend('wasm', 1);
await loadRuntime('native', THREADS);
const onnx = new OnnxLbfgs(THREADS);
const { kernels } = onnx;
const [x, g, v, r, d, g2] = [
  wave(1, 0, 1),
  wave(2, -1, 1),
  wave(3, 0, 1),
  wave(4, -1, 1),
  wave(5, -1, 1),
  wave(6, -1, 1),
];
const rows: [string, number][] = [
  ['projection, g² mean, H₀ diagonal', await time(() => kernels.project(x, g, v))],
  ['descent and its slope', await time(() => kernels.descent(r, v, g))],
  ['trial point and gᵀ(step)', await time(() => kernels.trial(x, d, 0.5, g))],
  ['pair and its dots', await time(() => kernels.pair(x, g, r, g2))],
  ['a vector into TensorFlow.js (tensor4d)', await time(async () => ({ t: tf.tensor4d(new Float32Array(n), shape) }))],
  ['a vector out of TensorFlow.js (dataSync)', await time(async () => (x.dataSync(), {}))],
];
onnx.release();
tf.dispose([x, g, v, r, d, g2]);
console.log(`L-BFGS's step kernels on ONNX Runtime (${THREADS} threads), ${H}×${W} px, mean of ${RUNS}`);
console.log('| kernel | ms |');
console.log('| --- | --- |');
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(2)} |`);
