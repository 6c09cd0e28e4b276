// How far the evaluation with Winograd's convolutions is from the direct one and from float64: the
// default objective (max pooling, block1–5_conv1 style layers weighted 256:64:16:4:1, content
// block4_conv2) on tubingen × starry_night, at an image between the photo and grey; J and each
// cost term relative, the gradient as its largest difference over its largest value. F(4×4) and
// F(2×2) on every 3×3 convolution, and 'auto' (F(4×4) on the 256- and 512-channel layers from
// 128×192 px). The float64 reference (test/engine/onnx-reference.ts, plain loops) at the smallest size.
//   node dist/bench/winograd-accuracy.js [--sizes 64,128,256,512] [--reference 64] [--out FILE]
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { createEngine, readConvWeights, readImage, scaleImage, VGG19_CONV_SPECS } from '../src/index.js';
import type { Objective } from '../src/engine/evaluator.js';
import type { ConvLowering } from '../src/engine/graph/convolutions.js';
import { features64, reference64, totalCost, totalGradient } from '../test/engine/onnx-reference.js';
import { CONTENT, STYLE, table, WEIGHTS } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const sizes = option('--sizes', '64,128,256,512').split(',').map(Number);
const referenceSize = Number(option('--reference', '64'));
const out = option('--out', '');
const pooling = option('--pooling', 'max') as 'max' | 'avg';

const styleLayers = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];
const falling = [256, 64, 16, 4, 1];
const objective: Objective = {
  alpha: 100,
  beta: 1,
  variation: 10,
  styleLayers,
  contentLayers: ['block4_conv2'],
  styleLayerWeights: falling.map((w) => w / falling.reduce((a, b) => a + b, 0)),
  pooling,
};
/**
 * 'direct, image ± 1e-6': the direct graph at the image moved by uniform noise of ±1e-6 (16 float32
 * steps of a value of 0.5): how far the gradient itself moves when the activations move by about
 * a convolution's rounding (its ReLU masks and max-pooling choices are not smooth).
 */
const METHODS = ['direct', 'direct, image ± 1e-6', 'winograd4', 'winograd2', 'auto'] as const;
type Method = (typeof METHODS)[number];

interface Result {
  total: number;
  content: number;
  style: number;
  variation: number;
  gradient: Float32Array | Float64Array;
}

async function evaluate(method: Method, content: tf.Tensor4D, style: tf.Tensor4D, x: tf.Tensor4D) {
  const moved = method === 'direct, image ± 1e-6';
  const convolution: ConvLowering = moved ? 'direct' : method;
  const engine = await createEngine({ engine: 'onnx', threads: 2, weights: WEIGHTS, onnx: { convolution } });
  const evaluator = await engine.createEvaluator(objective, { content, styles: [style], styleWeights: [1] });
  const at = moved ? tf.tidy(() => x.add(tf.randomUniform(x.shape, -1e-6, 1e-6, 'float32', 1))) : x;
  const { gradient, costs } = await evaluator.evaluate(at as tf.Tensor4D);
  if (moved) at.dispose();
  const result: Result = { ...costs, gradient: Float32Array.from(await gradient.data()) };
  gradient.dispose();
  evaluator.dispose();
  engine.dispose();
  return result;
}

/** The float64 reference's costs and gradient for the same images and objective. */
async function reference(content: tf.Tensor4D, style: tf.Tensor4D, x: tf.Tensor4D): Promise<Result> {
  const specs = VGG19_CONV_SPECS.filter((s) => /^block[1-4]_|^block5_conv1$/.test(s.name));
  const weights = new Map((await readConvWeights(WEIGHTS, specs)).map((w) => [w.name, w]));
  const setup = { ...objective, weights };
  const f64 = async (t: tf.Tensor4D) => Float64Array.from(await t.data());
  const [, h, w] = x.shape;
  const styleTargets = features64(await f64(style), style.shape[1], style.shape[2], setup);
  const contentTargets = features64(await f64(content), h, w, setup);
  const targets = { grams: styleTargets.grams, contents: contentTargets.contents };
  const r = reference64(await f64(x), h, w, setup, targets);
  const { alpha, beta, variation } = objective;
  return {
    total: totalCost(r, alpha, beta, variation),
    content: r.content,
    style: r.style,
    variation: r.variation,
    gradient: totalGradient(r, alpha, beta, variation),
  };
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
/** The largest difference over the largest value, and the norm of the difference over the norm. */
function gradientError(a: ArrayLike<number>, b: ArrayLike<number>) {
  let [num, den, sq, norm] = [0, 0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
    sq += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return { max: num / den, norm: Math.sqrt(sq / norm) };
}

const rows: Record<string, string | number>[] = [];
for (const size of sizes) {
  const content = scaleImage(await readImage(CONTENT), size) as tf.Tensor4D;
  const style = scaleImage(await readImage(STYLE), size) as tf.Tensor4D;
  const x = tf.tidy(() => content.mul(0.5).add(0.25)) as tf.Tensor4D;
  const results = new Map<Method | 'float64', Result>();
  for (const method of METHODS) results.set(method, await evaluate(method, content, style, x));
  if (size === referenceSize) results.set('float64', await reference(content, style, x));
  const baselines: (Method | 'float64')[] = ['direct', ...(results.has('float64') ? (['float64'] as const) : [])];
  for (const against of baselines) {
    const base = results.get(against)!;
    for (const method of METHODS.filter((m) => m !== against)) {
      const r = results.get(method)!;
      const row = {
        size: `${x.shape[1]}×${x.shape[2]}`,
        method,
        against,
        J: relative(r.total, base.total).toExponential(1),
        J_content: relative(r.content, base.content).toExponential(1),
        J_style: relative(r.style, base.style).toExponential(1),
        'gradient (max)': gradientError(r.gradient, base.gradient).max.toExponential(1),
        'gradient (norm)': gradientError(r.gradient, base.gradient).norm.toExponential(1),
      };
      rows.push(row);
      console.error(JSON.stringify(row));
    }
  }
  tf.dispose([content, style, x]);
}
const header = Object.keys(rows[0] ?? {});
console.log(
  table(
    header,
    rows.map((r) => header.map((k) => String(r[k]))),
  ),
);
if (out) fs.writeFileSync(out, JSON.stringify({ objective, rows }, null, 2) + '\n');
