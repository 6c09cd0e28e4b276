// Two builds' evaluation graphs on the same inputs: the relative differences of their costs and
// gradients, and their per-evaluation times taken in turn (run from the repository root after npm
// run build; OTHER is the dist folder of another checkout, e.g. a git worktree of an older commit):
//   node bench/objective-compare.mjs OTHER/dist [sizes=256,512] [reps=5] ['{"pooling":"max",...}']
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';

const [other, sizesArg = '256,512', repsArg = '5', objectiveArg = '{}'] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/objective-compare.mjs OTHER/dist [sizes] [reps] [objective JSON]');
const weights = process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5';
const ours = await import(path.resolve('dist/src/index.js'));
const theirs = await import(path.resolve(other, 'src/index.js'));
const layers = ours.DEFAULT_STYLE_LAYERS;
const objective = {
  alpha: 1e4,
  beta: 1,
  variation: 10,
  styleLayers: layers,
  contentLayers: ['block5_conv2'],
  styleLayerWeights: layers.map(() => 1 / layers.length),
  pooling: 'avg',
  ...JSON.parse(objectiveArg),
};
const relative = (a, b) => {
  let scale = 0;
  let error = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    error = Math.max(error, Math.abs(a[i] - b[i]));
  }
  return error / scale;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const size of sizesArg.split(',').map(Number)) {
  const content = ours.scaleImage(await ours.readImage('../shared/images/tubingen.jpg'), size);
  const style = ours.scaleImage(await ours.readImage('../shared/images/starry_night.jpg'), size);
  // A start that is not the content image, so that the content cost is not 0.
  const image = tf.tidy(() =>
    tf.clipByValue(tf.add(content, tf.randomNormal(content.shape, 0, 0.1, 'float32', 7)), 0, 1),
  );
  const images = { content, styles: [style], styleWeights: [1] };
  const engines = [
    await ours.createEngine({ engine: 'onnx', threads: 2, weights }),
    await theirs.createEngine({ engine: 'onnx', threads: 2, weights }),
  ];
  const evaluators = [];
  for (const e of engines) evaluators.push(await e.createEvaluator(objective, images));
  const results = [];
  const times = [[], []];
  for (let rep = 0; rep <= Number(repsArg); rep++) {
    for (const [k, evaluator] of evaluators.entries()) {
      const start = performance.now();
      const { gradient, costs } = await evaluator.evaluate(image);
      if (rep > 0) times[k].push(performance.now() - start);
      if (rep === 0) results[k] = { costs, gradient: gradient.dataSync().slice() };
      gradient.dispose();
    }
  }
  const [a, b] = results;
  const costDiff = Math.max(
    ...['total', 'content', 'style', 'variation'].map(
      (key) => Math.abs(a.costs[key] - b.costs[key]) / Math.abs(b.costs[key]),
    ),
  );
  rows.push({
    size: `${content.shape[1]}x${content.shape[2]}`,
    oursMs: median(times[0]).toFixed(0),
    theirsMs: median(times[1]).toFixed(0),
    ratio: (median(times[0]) / median(times[1])).toFixed(3),
    costRelative: costDiff.toExponential(2),
    gradientRelative: relative(a.gradient, b.gradient).toExponential(2),
  });
  evaluators.forEach((e) => e.dispose());
  engines.forEach((e) => e.dispose());
  tf.dispose([content, style, image]);
}
console.table(rows);
