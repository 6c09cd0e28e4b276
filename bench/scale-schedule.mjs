// Evaluations each scale of coarse-to-fine L-BFGS needs, and at the last scale until a target cost,
// for a schedule and a way to start each scale (run from the repository root after npm run build):
//   node bench/scale-schedule.mjs THREADS SIZES ITERATIONS TARGET [detail|upsample]
//   node bench/scale-schedule.mjs 1 64,128,256 150,75,300 2989893.75 detail
// 'detail' starts a scale as `stylize` does (nextScaleStart: the content at the new size plus the
// upsampled change of the previous scale); 'upsample' from the previous result upsampled alone. With 1 thread two
// schedules can run side by side: the evaluation counts, not the times, are what compare.
import * as tf from '@tensorflow/tfjs';
import { nextScaleStart, NST, readImage, selectBackend } from '../dist/src/index.js';

const [threads, sizeList, iterationList, target, start = 'detail'] = process.argv.slice(2);
await selectBackend('wasm', Number(threads));
const content = await readImage('../shared/images/tubingen.jpg');
const style = await readImage('../shared/images/starry_night.jpg');
const model = await NST.loadFeatureModel(process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5');
const sizes = sizeList.split(',').map(Number);
const iterations = iterationList.split(',').map(Number);
let previous = null;
let previousContent = null;
const t0 = Date.now();
for (let k = 0; k < sizes.length; k++) {
  const nst = new NST(style, content, { size: sizes[k], model });
  nst.generateFeatures();
  const detail = start === 'detail';
  const init = !previous
    ? 'content'
    : nextScaleStart(previous, detail ? previousContent : null, detail ? nst.contentImage : null);
  const abort = new AbortController();
  const row = { size: sizes[k], firstCost: NaN, evaluations: 0, iterations: 0, reached: null };
  const [image, cost] = await nst.generateImage({
    iterations: iterations[k],
    optimizer: 'lbfgs',
    init,
    signal: abort.signal,
    log: () => {},
    onProgress: (e) => {
      if (e.iteration === 0) row.firstCost = e.costs.total;
      row.evaluations = e.evaluations;
      row.iterations = e.iteration;
      if (k === sizes.length - 1 && !row.reached && e.costs.total <= Number(target)) {
        row.reached = { iteration: e.iteration, evaluations: e.evaluations };
        abort.abort();
      }
    },
  });
  if (typeof init !== 'string') init.dispose();
  tf.dispose([previous, previousContent].filter(Boolean));
  previous = image;
  previousContent = nst.contentImage.clone();
  nst.dispose();
  console.log(JSON.stringify({ ...row, firstCost: row.firstCost.toExponential(3), bestCost: cost.toExponential(4) }));
}
console.log(`${sizeList} ${iterationList} ${start}: ${(Date.now() - t0) / 1000} s`);
