// Time per iteration and peak tensor bytes of computeGrads at a size: node bench/evaluation.mjs 256
import * as tf from '@tensorflow/tfjs';
import { NST, readImage, selectBackend } from '../dist/src/index.js';
const mb = (x) => (x / 2 ** 20).toFixed(0);
await selectBackend('wasm', 2);
const c = await readImage('../shared/images/tubingen.jpg');
const s = await readImage('../shared/images/starry_night.jpg');
const model = await NST.loadFeatureModel(process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5');
const nst = await NST.create(s, c, { size: Number(process.argv[2] ?? 256), model });
const x = nst.contentImage.clone();
const times = [];
let prof;
for (let i = 0; i < 5; i++) {
  const t0 = Date.now();
  prof = await tf.profile(() => {
    const r = nst.computeGrads(x);
    r[1].dataSync();
    tf.dispose(r);
  });
  times.push(Date.now() - t0);
}
console.log(
  'ms',
  times.join(' '),
  'peakMB',
  mb(prof.peakBytes),
  'kernels',
  prof.kernels.length,
  'maxRSS',
  mb(process.resourceUsage().maxRSS * 1024),
);
