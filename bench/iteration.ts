// One benchmark measurement in its own process (so that its peak memory is its own):
//   node dist/bench/iteration.js ENGINE THREADS SIZE ITERATIONS WARMUP
// Runs the library's stylize (Adam, one scale: the seed's loop) on ENGINE and prints one JSON line.
import * as tf from '@tensorflow/tfjs';
import { createEngine, readImage, stylize, type EngineName } from '../src/index.js';
import { CONTENT, median, STYLE, WEIGHTS } from './common.js';

const [engineName, threads, size, iterations, warmup] = process.argv.slice(2);
const engine = await createEngine({ engine: engineName as EngineName, threads: Number(threads), weights: WEIGHTS });
const content = await readImage(CONTENT);
const style = await readImage(STYLE);

const times: number[] = [];
const tensors: number[] = [];
let firstCost = NaN;
let last = performance.now();
const [image, bestCost] = await stylize(style, content, {
  preset: 'seed',
  engine,
  size: Number(size),
  iterations: Number(warmup) + Number(iterations),
  onProgress: (event) => {
    const now = performance.now();
    if (event.iteration === 0) firstCost = event.costs.total;
    else times.push((now - last) / 1000);
    last = now;
    tensors.push(tf.memory().numTensors);
  },
});
tf.dispose([image, content, style]);
const { name, threads: used } = engine.info;
engine.dispose();
const after = Number(warmup);
console.log(
  JSON.stringify({
    engine: name,
    threads: used,
    secondsPerIteration: median(times.slice(after)),
    tensorGrowth: tensors[tensors.length - 1]! - tensors[after]!,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    firstCost,
    bestCost,
  }),
);
