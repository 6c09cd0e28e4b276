// Adam's update at an image size on TensorFlow.js' WebAssembly backend (one thread, nine passes)
// and as one ONNX Runtime graph on the CPU's threads (engine/onnx/adam.ts), in the same run; with
// `--device webgpu`, on the WebGPU device too (the vectors crossing the bus each step).
//   node dist/bench/adam-step.js [--height 384] [--width 512] [--steps 20] [--threads 2] [--device webgpu]
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/tfjs/backend.js';
import { loadRuntime } from '../src/engine/onnx/runtime.js';
import { OnnxAdam } from '../src/engine/onnx/adam.js';
import { fromHost } from '../src/engine/onnx/host.js';
import { Adam, tensorAdam } from '../src/optim/adam.js';
import type { AdamKernels } from '../src/optim/types.js';
import { numberOption, option } from './options.js';

const [H, W, STEPS, THREADS] = [
  numberOption('height', 384),
  numberOption('width', 512),
  numberOption('steps', 20),
  numberOption('threads', 2),
];
const gpu = option('device', 'cpu') === 'webgpu';
const shape: [number, number, number, number] = [1, H, W, 3];

/** Mean ms of a step (after two to warm up), and the image's mean after the last. */
async function measure(kernels: AdamKernels): Promise<{ ms: number; mean: number }> {
  const adam = new Adam(0.01, 0.9, 0.99, 1e-7, kernels);
  let image = tf.fill(shape, 0.5) as tf.Tensor4D;
  // As the evaluator hands it over: a session's output that remembers its host array.
  const gradient = fromHost(tf.randomNormal(shape, 0, 1, 'float32', 7).dataSync() as Float32Array, shape);
  const costs = { total: 0, content: 0, style: 0, variation: 0 };
  let ms = 0;
  for (let i = 0; i < STEPS + 2; i++) {
    const started = performance.now();
    const result = await adam.step(image, { gradient, costs });
    if (i >= 2) ms += performance.now() - started;
    image.dispose();
    image = (result as { image: tf.Tensor4D }).image;
  }
  const mean = tf.tidy(() => tf.mean(image).dataSync()[0]!);
  tf.dispose([image, gradient]);
  adam.dispose();
  return { ms: ms / STEPS, mean };
}

await selectBackend('wasm', 1);
await loadRuntime('native', THREADS);
const cpu = new OnnxAdam({ threads: THREADS });
const device = gpu ? new OnnxAdam({ threads: THREADS, providers: ['webgpu'] }) : null;
const runs: [string, AdamKernels][] = [
  ['TensorFlow.js wasm (one thread)', tensorAdam],
  [`ONNX Runtime, CPU (${THREADS} threads)`, cpu],
  ...(device ? [['ONNX Runtime, WebGPU device', device] as [string, AdamKernels]] : []),
];
const results = [];
for (const [name, kernels] of runs) results.push({ name, ...(await measure(kernels)) });
cpu.release();
device?.release();
console.log(`Adam's update, ${H}×${W} px, mean of ${STEPS} steps`);
console.log('| Adam on | ms / step | × TensorFlow.js | image mean after |');
console.log('| --- | --- | --- | --- |');
for (const r of results)
  console.log(`| ${r.name} | ${r.ms.toFixed(2)} | ${(r.ms / results[0]!.ms).toFixed(2)} | ${r.mean.toFixed(6)} |`);
