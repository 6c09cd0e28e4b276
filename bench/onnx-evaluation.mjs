// Per-evaluation time of an engine's evaluator, the time to build it (graph, session, targets),
// and the process's peak RSS, one run per process (run from the repository root after npm run build):
//   node bench/onnx-evaluation.mjs 512                         # the ONNX engine, its defaults
//   node bench/onnx-evaluation.mjs 512 '{"onnx":{"optimization":"extended","dims":"symbolic"}}'
//   node bench/onnx-evaluation.mjs 256 '{"engine":"onnx-wasm"}' # ONNX Runtime's WebAssembly build
//   node bench/onnx-evaluation.mjs 512 '{"objective":{"styleLoss":"w2"}}'   # objective settings over the default's
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createEngine, DEFAULT_STYLE_LAYERS, readImage, scaleImage } from '../dist/src/index.js';

const size = Number(process.argv[2] ?? 256);
const {
  engine: name = 'onnx',
  threads = 2,
  onnx = {},
  reps = 5,
  objective: over = {},
} = JSON.parse(process.argv[3] ?? '{}');
const weights = process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5';
const engine = await createEngine({ engine: name, threads, weights, onnx });
const content = scaleImage(await readImage('../shared/images/tubingen.jpg'), size);
const style = scaleImage(await readImage('../shared/images/starry_night.jpg'), size);
const objective = {
  alpha: 1e4,
  beta: 1,
  variation: 10,
  styleLayers: DEFAULT_STYLE_LAYERS,
  contentLayers: ['block5_conv2'],
  styleLayerWeights: DEFAULT_STYLE_LAYERS.map(() => 1 / DEFAULT_STYLE_LAYERS.length),
  pooling: 'avg',
  ...over,
};
let t0 = performance.now();
const evaluator = await engine.createEvaluator(objective, { content, styles: [style], styleWeights: [1] });
const createMs = performance.now() - t0;
const times = [];
let costs;
let cpu;
for (let i = 0; i < reps + 1; i++) {
  // CPU time too: wall time doubles when another process takes a core.
  if (i === 1) cpu = process.cpuUsage();
  const start = performance.now();
  const { gradient, costs: c } = await evaluator.evaluate(content);
  times.push(performance.now() - start);
  gradient.dispose();
  costs = c;
}
cpu = process.cpuUsage(cpu);
const first = times.shift();
const sorted = [...times].sort((a, b) => a - b);
const ms = (x) => x.toFixed(0);
console.log(
  JSON.stringify({
    engine: engine.info.description,
    size: `${content.shape[1]}x${content.shape[2]}`,
    medianMs: ms(sorted[Math.floor(sorted.length / 2)]),
    minMs: ms(sorted[0]),
    firstMs: ms(first),
    cpuMsPerEval: ms((cpu.user + cpu.system) / 1000 / reps),
    load: os.loadavg()[0].toFixed(1),
    createMs: ms(createMs),
    maxRssMB: (process.resourceUsage().maxRSS / 1024).toFixed(0),
    J: costs.total,
  }),
);
evaluator.dispose();
engine.dispose();
tf.dispose([content, style]);
