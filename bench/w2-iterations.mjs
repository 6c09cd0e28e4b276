// The W2 style loss's Newton–Schulz iterations: per style layer, the relative error of W against
// float64 with exact square roots (Jacobi eigendecompositions), for several iteration counts, on
// the features of real images; and the time of one evaluation of the loss at 512 channels.
// Run from the repository root after npm run build:
//   node bench/w2-iterations.mjs [sizes=128,256] [counts=8,12,16,20,24]
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { readImage, scaleImage, DEFAULT_STYLE_LAYERS } from '../dist/src/index.js';
import { featuresSession } from '../dist/src/engine/onnx/targets.js';
import { GraphBuilder } from '../dist/src/engine/graph/builder.js';
import { differentiate } from '../dist/src/engine/graph/autodiff.js';
import { w2Loss } from '../dist/src/engine/objective/w2.js';
import { matmul, matrixFunction, meanCov } from '../dist/test/engine/w2-reference.js';

const [sizesArg = '128,256', countsArg = '8,12,16,20,24'] = process.argv.slice(2);
const weights = process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5';
const counts = countsArg.split(',').map(Number);
const objective = {
  styleLayers: DEFAULT_STYLE_LAYERS,
  contentLayers: ['block5_conv2'],
  pooling: 'avg',
  styleLoss: 'w2',
};
const trace = (a, n) => Array.from({ length: n }, (_, i) => a[i * n + i]).reduce((s, x) => s + x, 0);

/** W in float64, exact square roots. */
function exactW2(stats, styleStats, c) {
  const { mean, cov } = meanCov(stats, c);
  const style = meanCov(styleStats, c);
  const root = matrixFunction(style.cov, c, (x) => Math.sqrt(Math.max(x, 0)));
  const m = matmul(matmul(root, cov, c), root, c);
  const rootTrace = trace(
    matrixFunction(m, c, (x) => Math.sqrt(Math.max(x, 1e-8))),
    c,
  );
  const meanTerm = mean.reduce((s, x, i) => s + (x - style.mean[i]) ** 2, 0);
  return { w: (meanTerm + trace(cov, c) + trace(style.cov, c) - 2 * rootTrace) / c, root };
}

/** A session computing the loss (and, when asked, its gradient w.r.t. the statistics) with `k` iterations. */
async function lossSession(c, k, withGradient) {
  const g = new GraphBuilder('w2');
  const means = g.input('means', [c + 1, c]);
  const target = g.input('target', [c + 1, c]);
  const cost = w2Loss(k).cost(g, means, target, c);
  g.output('W', cost, []);
  if (withGradient) g.output('dW', differentiate(g, [{ value: cost, gradient: g.scalar64(1) }], [means])[0]);
  return ort.InferenceSession.create(g.encode(), { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
}

const features = await featuresSession(weights, objective, { threads: 2 });
const statsOf = async (file, size) => {
  const image = scaleImage(await readImage(`../shared/images/${file}`), size);
  const [, h, w] = image.shape;
  const out = await features.session.run({ image: new ort.Tensor('float32', image.dataSync(), [1, h, w, 3]) });
  image.dispose();
  return DEFAULT_STYLE_LAYERS.map((layer) => Float64Array.from(out[`style_${layer}`].data));
};

const rows = [];
for (const size of sizesArg.split(',').map(Number)) {
  const [photo, painting] = [await statsOf('tubingen.jpg', size), await statsOf('starry_night.jpg', size)];
  for (const [l, layer] of DEFAULT_STYLE_LAYERS.entries()) {
    const channels = Math.round((-1 + Math.sqrt(1 + 4 * photo[l].length)) / 2);
    const { w, root } = exactW2(photo[l], painting[l], channels);
    const targetData = new Float32Array((channels + 1) * channels);
    targetData.set(meanCov(painting[l], channels).mean.map(Math.fround));
    targetData.set(Float32Array.from(root), channels);
    const row = { size, layer, channels, exact: w.toExponential(4) };
    for (const k of counts) {
      const session = await lossSession(channels, k, false);
      const out = await session.run({
        means: new ort.Tensor('float32', Float32Array.from(photo[l]), [channels + 1, channels]),
        target: new ort.Tensor('float32', targetData, [channels + 1, channels]),
      });
      const got = out.W.data[0];
      row[`k=${k}`] = (Math.abs(got - w) / Math.abs(w)).toExponential(1);
      await session.release();
    }
    rows.push(row);
  }
}
console.table(rows);

// Time of the loss and its gradient at 512 channels (as at block4_conv1 and block5_conv1), per count.
const c = 512;
const times = {};
const eye = Float32Array.from({ length: (c + 1) * c }, (_, i) => (i >= c && (i - c) % (c + 1) === 0 ? 1 : 0));
for (const k of counts) {
  const session = await lossSession(c, k, true);
  const feeds = {
    means: new ort.Tensor(
      'float32',
      Float32Array.from(eye, (v, i) => v * 2 + (i < c ? 0.1 : 0)),
      [c + 1, c],
    ),
    target: new ort.Tensor('float32', eye, [c + 1, c]),
  };
  await session.run(feeds);
  const start = performance.now();
  for (let i = 0; i < 3; i++) await session.run(feeds);
  times[`k=${k}`] = `${((performance.now() - start) / 3).toFixed(0)} ms`;
  await session.release();
}
console.log('the loss and its gradient at 512 channels, 2 threads:', times);
await features.session.release();
tf.disposeVariables();
