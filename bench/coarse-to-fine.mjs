// Time for coarse-to-fine to reach a cost (run from the repository root after npm run build):
//   node bench/coarse-to-fine.mjs 2989893.75 lbfgs 64,128 150,75,1000
import { readImage, stylize } from '../dist/src/index.js';
const [target, optimizer, scales, iterations] = process.argv.slice(2);
const content = await readImage('../shared/images/tubingen.jpg');
const style = await readImage('../shared/images/starry_night.jpg');
const abort = new AbortController();
const start = Date.now();
let n = 0;
let reached = null;
const perScale = {};
await stylize(style, content, {
  size: 256,
  weights: process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5',
  optimizer,
  scales: scales.split(',').map(Number),
  iterations: iterations.split(',').map(Number),
  backend: 'onnx',
  threads: 2,
  signal: abort.signal,
  onProgress: (e) => {
    n++;
    perScale[e.scale.size] = [e.iteration, ((Date.now() - start) / 1000).toFixed(0), e.costs.total.toExponential(3)];
    if (e.scale.index === e.scale.count && !reached && e.costs.total <= Number(target)) {
      reached = (Date.now() - start) / 1000;
      abort.abort();
    }
  },
});
console.log(optimizer, scales, iterations, 'reached', reached, 'evals', n, JSON.stringify(perScale));
