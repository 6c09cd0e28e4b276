// How much style cost upsampling alone costs: each style layer's cost (× its weight 0.2) of the
// style image itself, shrunk by a factor and upsampled back bicubically, against its own Gram
// targets at 256 px (run from the repository root after npm run build): node bench/upsample-cost.mjs
import * as tf from '@tensorflow/tfjs';
import { NST, readImage, resizeBicubic, selectBackend } from '../dist/src/index.js';

await selectBackend('wasm', 2);
const style = await readImage('../shared/images/starry_night.jpg');
const model = await NST.loadFeatureModel(process.env.NST_WEIGHTS ?? '../shared/weights/vgg19_notop_reconstructed.h5');
const factors = [1, Math.SQRT2, 2, 4];
console.log(['layer', ...factors.map((f) => `shrunk ${f.toFixed(2)}×`)].join(' | '));
for (const layer of NST.styleLayers) {
  const nst = new NST(style, style, { size: 256, model, styleLayers: [layer] });
  nst.generateFeatures();
  const [, h, w] = nst.contentImage.shape;
  const costs = factors.map((f) => {
    const blurred = tf.tidy(() =>
      tf.clipByValue(resizeBicubic(resizeBicubic(nst.contentImage, Math.round(h / f), Math.round(w / f)), h, w), 0, 1),
    );
    const results = nst.computeGrads(blurred); // [gradient, J, J_content, J_style, J_var]
    const value = results[3].dataSync()[0] / NST.styleLayers.length;
    tf.dispose([...results, blurred]);
    return value.toExponential(2);
  });
  console.log([layer, ...costs].join(' | '));
  nst.dispose();
}
