import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { NST } from '../src/nst.js';
import { FeatureModel } from '../src/engine/tfjs/features.js';
import { readConvWeights } from '../src/io/weights.js';
import { randomArray, relDiff, useWasm, WEIGHTS } from './helpers.js';

/** A small RGB image with values 0..255 as the library takes it. */
function image(h: number, w: number, seed: number): { data: Float64Array; shape: [number, number, number] } {
  return { data: randomArray(h * w * 3, seed, 0, 255).map(Math.round), shape: [h, w, 3] };
}

describe('FeatureModel', () => {
  let model: FeatureModel;
  before(async () => {
    await useWasm();
    model = await FeatureModel.load(WEIGHTS, [...NST.styleLayers, NST.contentLayer], 'avg');
  });
  after(() => model.dispose());

  it('has the 15,304,768 frozen parameters of VGG19 up to block5_conv2', () => {
    assert.equal(model.countParams(), 15_304_768);
    const lines: string[] = [];
    model.summary((line) => lines.push(line));
    assert.ok(lines.some((l) => l.startsWith('block1_pool (AveragePooling2D)')));
    assert.ok(lines.includes('Total params: 15,304,768'));
    assert.ok(lines.includes('Trainable params: 0'));
  });

  it('returns the style layers then the content layer, with the right shapes', () => {
    const outputs = tf.tidy(() => model.apply(tf.zeros([1, 48, 32, 3])));
    assert.deepEqual(
      outputs.map((o) => o.shape),
      [
        [1, 48, 32, 64],
        [1, 24, 16, 128],
        [1, 12, 8, 256],
        [1, 6, 4, 512],
        [1, 3, 2, 512],
        [1, 3, 2, 512],
      ],
    );
    tf.dispose(outputs);
  });

  it('block1_conv1 and block2_conv1 match a float64 convolution with average pooling', async () => {
    const [h, w] = [16, 16]; // the smallest image that survives the four poolings before block5_conv2
    const x = Float64Array.from(randomArray(h * w * 3, 11, -120, 130), Math.fround);
    const [conv11, conv12, conv21] = await readConvWeights(WEIGHTS, [
      { name: 'block1_conv1', shape: [3, 3, 3, 64] },
      { name: 'block1_conv2', shape: [3, 3, 64, 64] },
      { name: 'block2_conv1', shape: [3, 3, 64, 128] },
    ]);
    // 3×3 'same' convolution + bias + ReLU, HWIO kernel, straight from the definition.
    const conv = (
      input: Float64Array,
      hh: number,
      ww: number,
      cin: number,
      k: { kernel: Float32Array; bias: Float32Array },
      cout: number,
    ) => {
      const out = new Float64Array(hh * ww * cout);
      for (let y = 0; y < hh; y++)
        for (let xx = 0; xx < ww; xx++)
          for (let o = 0; o < cout; o++) {
            let s = k.bias[o]!;
            for (let dy = -1; dy <= 1; dy++)
              for (let dx = -1; dx <= 1; dx++) {
                const yy = y + dy,
                  xi = xx + dx;
                if (yy < 0 || yy >= hh || xi < 0 || xi >= ww) continue;
                for (let i = 0; i < cin; i++)
                  s += input[(yy * ww + xi) * cin + i]! * k.kernel[(((dy + 1) * 3 + (dx + 1)) * cin + i) * cout + o]!;
              }
            out[(y * ww + xx) * cout + o] = Math.max(0, s);
          }
      return out;
    };
    const b11 = conv(x, h, w, 3, conv11!, 64);
    const b12 = conv(b11, h, w, 64, conv12!, 64);
    const pooled = new Float64Array((h / 2) * (w / 2) * 64);
    for (let y = 0; y < h / 2; y++)
      for (let xx = 0; xx < w / 2; xx++)
        for (let c = 0; c < 64; c++) {
          const at = (yy: number, xi: number) => b12[(yy * w + xi) * 64 + c]!;
          pooled[(y * (w / 2) + xx) * 64 + c] =
            (at(2 * y, 2 * xx) + at(2 * y + 1, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx + 1)) / 4;
        }
    const b21 = conv(pooled, h / 2, w / 2, 64, conv21!, 128);

    const [f11, f21] = tf.tidy(() => model.apply(tf.tensor4d(Float32Array.from(x), [1, h, w, 3])).slice(0, 2));
    const check = (got: Float32Array | Int32Array | Uint8Array, want: Float64Array, name: string) => {
      const scale = Math.max(...want.map(Math.abs));
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-5 * scale, `${name}[${i}]: ${v} vs ${want[i]}`));
    };
    check(f11!.dataSync(), b11, 'block1_conv1');
    check(f21!.dataSync(), b21, 'block2_conv1');
    tf.dispose([f11!, f21!]);
  });
});

describe('NST', () => {
  let nst: NST;
  let shared: FeatureModel;
  before(async () => {
    await useWasm();
    shared = await FeatureModel.load(WEIGHTS, [...NST.styleLayers, NST.contentLayer], 'avg');
    nst = await NST.create(image(40, 30, 1), image(24, 32, 2), { size: 32, model: shared });
  });
  after(() => {
    nst.dispose();
    shared.dispose();
  });

  it("has the seed's layers, defaults and preprocessed images", () => {
    assert.deepEqual(NST.styleLayers, ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1']);
    assert.equal(NST.contentLayer, 'block5_conv2');
    assert.deepEqual([nst.alpha, nst.beta, nst.var], [1e4, 1, 10]);
    assert.deepEqual(nst.styleImage.shape, [1, 32, 24, 3]);
    assert.deepEqual(nst.contentImage.shape, [1, 24, 32, 3]);
    assert.equal(nst.gramStyleFeatures.length, 5);
    assert.deepEqual(
      nst.gramStyleFeatures.map((g) => g.shape),
      [
        [1, 64, 64],
        [1, 128, 128],
        [1, 256, 256],
        [1, 512, 512],
        [1, 512, 512],
      ],
    );
    assert.deepEqual(nst.contentFeature!.shape, [1, 1, 2, 512]);
  });

  it("checks its constructor arguments with the seed's messages", () => {
    const good = image(8, 8, 3);
    const cases: [() => unknown, string][] = [
      [
        () => new NST({ data: [1, 2], shape: [1, 2] }, good),
        'style_image must be an array or tensor with shape (h, w, 3)',
      ],
      [
        () => new NST(good, tf.zeros([4, 4, 4]) as tf.Tensor3D),
        'content_image must be an array or tensor with shape (h, w, 3)',
      ],
      [
        () => new NST(good, { data: [1, 2, 3], shape: [2, 2, 3] }),
        'content_image must be an array or tensor with shape (h, w, 3)',
      ],
      [() => new NST(good, good, { alpha: -1 }), 'alpha must be a non-negative number'],
      [() => new NST(good, good, { beta: 'x' as unknown as number }), 'beta must be a non-negative number'],
      [() => new NST(good, good, { var: NaN }), 'var must be a non-negative number'],
      [() => NST.scaleImage({ data: [], shape: [0, 0, 3] }), 'image must be an array or tensor with shape (h, w, 3)'],
    ];
    for (const [make, message] of cases) assert.throws(make, { name: 'TypeError', message });
  });

  it("checks its method arguments with the seed's messages", () => {
    const rank3 = tf.zeros([2, 2, 2]) as unknown as tf.Tensor4D;
    const f = tf.zeros([1, 2, 2, 64]) as tf.Tensor4D;
    const cases: [() => unknown, string][] = [
      [() => NST.gramMatrix(rank3), 'input_layer must be a tensor of rank 4'],
      [() => nst.layerStyleCost(rank3, nst.gramStyleFeatures[0]!), 'style_output must be a tensor of rank 4'],
      [() => nst.layerStyleCost(f, nst.gramStyleFeatures[1]!), 'gram_target must be a tensor of shape [1, 64, 64]'],
      [() => nst.styleCost([f]), 'style_outputs must be a list with a length of 5'],
      [() => nst.contentCost(f), 'content_output must be a tensor of shape [1, 1, 2, 512]'],
      [
        () => nst.totalCost(tf.zeros([1, 24, 30, 3]) as tf.Tensor4D),
        'generated_image must be a tensor of shape [1, 24, 32, 3]',
      ],
      [
        () => nst.computeGrads(tf.zeros([1, 24, 30, 3]) as tf.Tensor4D),
        'generated_image must be a tensor of shape [1, 24, 32, 3]',
      ],
      [() => NST.variationalCost(rank3), 'generated_image must be a tensor of rank 4'],
    ];
    for (const [call, message] of cases) assert.throws(call, { name: 'TypeError', message });
    tf.dispose([rank3, f]);
  });

  it("checks generateImage's arguments with the seed's messages", async () => {
    const cases: [object, string, string][] = [
      [{ iterations: 1.5 }, 'TypeError', 'iterations must be an integer'],
      [{ iterations: 0 }, 'RangeError', 'iterations must be positive'],
      [{ iterations: 10, step: 'a' }, 'TypeError', 'step must be an integer'],
      [{ iterations: 10, step: 10 }, 'RangeError', 'step must be positive and less than iterations'],
      [{ iterations: 10, step: 0 }, 'RangeError', 'step must be positive and less than iterations'],
      [{ lr: '1' }, 'TypeError', 'lr must be a number'],
      [{ lr: 0 }, 'RangeError', 'lr must be positive'],
      [{ beta1: '0.9' }, 'TypeError', 'beta1 must be a float'],
      [{ beta1: 1.5 }, 'RangeError', 'beta1 must be in the range [0, 1]'],
      [{ beta2: null }, 'TypeError', 'beta2 must be a float'],
      [{ beta2: -0.1 }, 'RangeError', 'beta2 must be in the range [0, 1]'],
    ];
    for (const [options, name, message] of cases) await assert.rejects(nst.generateImage(options), { name, message });
  });

  it('totalCost is α·J_content + β·J_style + var·J_var, each as the seed defines it', () => {
    const generated = tf.tidy(() =>
      tf.clipByValue(tf.add(nst.contentImage, tf.randomUniform(nst.contentImage.shape, -0.1, 0.1, 'float32', 5)), 0, 1),
    ) as tf.Tensor4D;
    const [j, jc, js, jv] = nst.totalCost(generated).map((t) => t.dataSync()[0]!);
    assert.ok(relDiff(j!, 1e4 * jc! + js! + 10 * jv!) < 1e-5);
    // Each part against its own method on the same features.
    const outputs = nst.model!.apply(
      tf.tidy(() => tf.sub(tf.reverse(tf.mul(generated, 255), -1), [103.939, 116.779, 123.68])) as tf.Tensor4D,
    );
    assert.ok(relDiff(jc!, nst.contentCost(outputs[5]!).dataSync()[0]!) < 1e-5);
    const layerCosts = outputs
      .slice(0, 5)
      .map((o, i) => nst.layerStyleCost(o, nst.gramStyleFeatures[i]!).dataSync()[0]!);
    assert.ok(relDiff(js!, layerCosts.reduce((a, b) => a + b) / 5) < 1e-5);
    assert.ok(relDiff(jv!, NST.variationalCost(generated).dataSync()[0]!) < 1e-5);
    // The content image is its own content target.
    assert.equal(nst.totalCost(nst.contentImage)[1].dataSync()[0], 0);
    tf.dispose([generated, ...outputs]);
  });

  it('computeGrads returns the gradient of J: a step against it lowers J', () => {
    const [grads, j] = nst.computeGrads(nst.contentImage);
    assert.deepEqual(grads.shape, nst.contentImage.shape);
    const before = j.dataSync()[0]!;
    // Directional derivative along −g: J(x − εg) ≈ J − ε‖g‖².
    const norm2 = tf.tidy(() => tf.sum(tf.square(grads)).dataSync()[0]!);
    const eps = 1e-4 / Math.sqrt(norm2);
    const moved = tf.tidy(() => tf.sub(nst.contentImage, tf.mul(grads, eps))) as tf.Tensor4D;
    const after = nst.totalCost(moved)[0].dataSync()[0]!;
    const predicted = eps * norm2;
    assert.ok(after < before, `${after} < ${before}`);
    assert.ok(relDiff(before - after, predicted) < 0.2, `decrease ${before - after} vs predicted ${predicted}`);
    tf.dispose([grads, j, moved]);
  });

  it("generateImage lowers the cost, prints the seed's lines and leaks no tensor", async () => {
    const lines: string[] = [];
    const before = tf.memory().numTensors;
    const [best, cost] = await nst.generateImage({ iterations: 6, step: 3, log: (l) => lines.push(l) });
    assert.equal(tf.memory().numTensors, before + 1);
    assert.deepEqual(best.shape, [24, 32, 3]);
    const values = best.dataSync();
    assert.ok(values.every((v) => v >= 0 && v <= 1));
    assert.deepEqual(
      lines.map((l) => l.split(':')[0]),
      ['Cost at iteration 0', 'Cost at iteration 3', 'Cost at iteration 6'],
    );
    const pattern = /^Cost at iteration \d+: (\S+), content (\S+), style (\S+), var (\S+)$/;
    const first = Number(lines[0]!.match(pattern)![1]);
    assert.ok(lines.every((l) => pattern.test(l)));
    assert.ok(cost < first, `${cost} < ${first}`);
    best.dispose();
  });

  it('noise initialisation is reproducible with a seed', async () => {
    const run = () => nst.generateImage({ iterations: 2, init: 'noise', seed: 7 });
    const [a] = await run();
    const [b] = await run();
    assert.deepEqual(a.dataSync(), b.dataSync());
    tf.dispose([a, b]);
  });
});

describe('small images', () => {
  before(useWasm);
  it('an image too small for four poolings is refused with a clear error', async () => {
    const model = await FeatureModel.load(WEIGHTS, ['block1_conv1', 'block5_conv2']);
    assert.equal(model.minSide, 16);
    assert.throws(() => model.apply(tf.zeros([1, 15, 40, 3])), {
      name: 'InputError',
      message: /40×15 px is too small.*16 px/,
    });
    model.dispose();
  });
});
