// One benchmark measurement in its own process (so that its peak memory is its own):
//   node dist/bench/iteration.js BACKEND THREADS SIZE ITERATIONS WARMUP
// Runs the real generateImage loop and prints one JSON line.
import * as tf from '@tensorflow/tfjs';
import { NST, readImage, selectBackend, type BackendName } from '../src/index.js';
import { CONTENT, median, STYLE, WEIGHTS } from './common.js';

const [backendName, threads, size, iterations, warmup] = process.argv.slice(2);
const backend = await selectBackend(backendName as BackendName, Number(threads));
const content = await readImage(CONTENT);
const style = await readImage(STYLE);
const nst = await NST.create(style, content, { size: Number(size), weights: WEIGHTS });
tf.dispose([content, style]);

const times: number[] = [];
const tensors: number[] = [];
let firstCost = NaN;
let last = performance.now();
const [image, bestCost] = await nst.generateImage({
  iterations: Number(warmup) + Number(iterations),
  onProgress: (event) => {
    const now = performance.now();
    if (event.iteration === 0) firstCost = event.costs.total;
    else times.push((now - last) / 1000);
    last = now;
    tensors.push(tf.memory().numTensors);
  },
});
image.dispose();
nst.dispose();
const after = Number(warmup);
console.log(
  JSON.stringify({
    engine: `${backend.name}`,
    threads: backend.threads,
    secondsPerIteration: median(times.slice(after)),
    tensorGrowth: tensors[tensors.length - 1]! - tensors[after]!,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    firstCost,
    bestCost,
  }),
);
