// Seconds per evaluation of the default objective's graph (J and dJ/dimage) on one execution
// provider, with random VGG19 weights of the right shapes (time does not depend on them), from
// the graph builders alone: what the GPU machine runs (bench/gpu/device.sh), and here on the CPU.
//   node bench/gpu/evaluation.mjs [--provider webgpu|cpu] [--threads N] [--sizes 512,1024]
//     [--convolution auto|direct|winograd4] [--runs 5]
// One JSON line per size. Paths: from the repository root after npm run build, or in the kit.
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const dist = fs.existsSync(new URL('../../dist/src', import.meta.url)) ? '../../dist/src' : './dist/src';
const { buildEvaluationModel } = await import(`${dist}/engine/objective/evaluation.js`);
const { VGG19_CONV_SPECS, layerGrid } = await import(`${dist}/engine/vgg19.js`);

const provider = option('--provider', 'cpu');
const threads = Number(option('--threads', '2'));
const sizes = option('--sizes', '512').split(',').map(Number);
const convolution = option('--convolution', 'auto');
const runs = Number(option('--runs', '5'));
const styleLayers = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];
const contentLayer = 'block4_conv2';

/** Deterministic values in [-scale, scale). */
function random(n, seed, scale) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 31 - 1) * scale;
  }
  return a;
}

// He-scaled random kernels in ONNX layout [out, in, 3, 3], up to block5_conv1.
const specs = VGG19_CONV_SPECS.slice(0, 13);
const convs = specs.map((s, i) => {
  const [, , inChannels, outChannels] = s.shape;
  const kernel = random(outChannels * inChannels * 9, i + 1, Math.sqrt(6 / (inChannels * 9)));
  return { name: s.name, inChannels, outChannels, kernel, bias: random(outChannels, 100 + i, 0.1) };
});
const channels = (layer) => specs.find((s) => s.name === layer).shape[3];

for (const size of sizes) {
  const [h, w] = [Math.round((size * 3) / 4), size];
  const model = buildEvaluationModel({
    height: h,
    width: w,
    styleLayers,
    contentLayers: [contentLayer],
    pooling: 'max',
    convs,
    convolution,
    backwardConv: 'conv',
    reluMask: 'where',
    maxPoolGradient: provider === 'webgpu' ? 'mask' : 'indices',
  });
  const options = {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  let started = performance.now();
  const session = await ort.InferenceSession.create(model, options);
  const createMs = performance.now() - started;
  const scalar = (v) => new ort.Tensor('float32', [v], []);
  const feeds = {
    image: new ort.Tensor(
      'float32',
      random(h * w * 3, 7, 0.5).map((v) => v + 0.5),
      [1, h, w, 3],
    ),
    alpha: scalar(100),
    beta: scalar(1),
    variation_weight: scalar(10),
    style_layer_weights: new ort.Tensor(
      'float32',
      [256, 64, 16, 4, 1].map((x) => x / 341),
      [5],
    ),
  };
  styleLayers.forEach((layer, i) => {
    const c = channels(layer);
    feeds[`style_target_${i}`] = new ort.Tensor('float32', random(c * c, 200 + i, 1), [1, c, c]);
  });
  const [ch, cw] = layerGrid(contentLayer, h, w);
  const c = channels(contentLayer);
  feeds.content_target_0 = new ort.Tensor('float32', random(c * ch * cw, 300, 1), [1, c, ch, cw]);
  started = performance.now();
  let out = await session.run(feeds);
  const firstMs = performance.now() - started;
  const times = [];
  for (let i = 0; i < runs; i++) {
    started = performance.now();
    out = await session.run(feeds);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const J = out.J.data[0];
  await session.release();
  const result = {
    provider,
    threads,
    convolution,
    size: `${h}x${w}`,
    createMs: Math.round(createMs),
    firstMs: Math.round(firstMs),
  };
  console.log(JSON.stringify({ ...result, secondsPerEvaluation: times[Math.floor(runs / 2)] / 1000, J }));
}
