import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FeatureModel } from '../../src/engine/tfjs/features.js';
import { modelOutputs } from '../../src/engine/vgg19.js';
import { NST } from '../../src/nst.js';
import { IMAGES, nst, randomArray, relDiff, useWasm, WEIGHTS } from '../helpers.js';

const image = (h: number, w: number, seed: number) => ({
  data: Array.from(randomArray(h * w * 3, seed, 0, 255)),
  shape: [h, w, 3],
});

describe('several styles, style scale, layers and pooling', () => {
  let model: FeatureModel;
  before(async () => {
    await useWasm();
    model = await NST.loadFeatureModel(WEIGHTS);
  });
  after(() => model.dispose());

  it('blends the Gram matrices of several styles by their normalised weights', () => {
    const content = image(32, 32, 1);
    const [a, b] = [image(40, 30, 2), image(24, 48, 3)]; // each style its own size
    const blend = new NST([a, b], content, { size: 32, model, styleWeights: [3, 1] });
    const alone = [a, b].map((s) => new NST(s, content, { size: 32, model }));
    for (const n of [blend, ...alone]) n.generateFeatures();
    assert.deepEqual(blend.styleWeights, [0.75, 0.25]);
    assert.deepEqual(
      blend.styleImages.map((s) => s.shape),
      [
        [1, 32, 24, 3],
        [1, 16, 32, 3],
      ],
    );
    blend.gramStyleFeatures.forEach((g, l) => {
      const [ga, gb] = alone.map((n) => n.gramStyleFeatures[l]!.dataSync());
      const got = g.dataSync();
      let worst = 0;
      for (let k = 0; k < got.length; k++) {
        const want = 0.75 * ga![k]! + 0.25 * gb![k]!; // float64
        worst = Math.max(worst, Math.abs(got[k]! - want) / (Math.abs(want) + 1e-3));
      }
      assert.ok(worst < 1e-5, `layer ${l}: ${worst}`);
    });
    for (const n of [blend, ...alone]) n.dispose();
  });

  it('scales the style image to style scale × size', () => {
    const content = image(48, 36, 4);
    const style = image(100, 50, 5);
    for (const [scale, side] of [
      [0.5, 24],
      [1, 48],
      [2, 96],
    ] as const) {
      const n = new NST(style, content, { size: 48, model, styleScale: scale });
      assert.deepEqual(n.styleImage.shape, [1, side, side / 2, 3]);
      n.dispose();
    }
    assert.throws(
      () => new NST(style, content, { size: 48, model, styleScale: 0 }),
      /style scale must be a positive number/,
    );
  });

  it('uses the chosen style and content layers with their weights', async () => {
    const styleLayers = ['block1_conv1', 'block3_conv2'];
    const contentLayers = ['block2_conv2', 'block3_conv2'];
    assert.deepEqual(modelOutputs(styleLayers, contentLayers), ['block1_conv1', 'block2_conv2', 'block3_conv2']);
    const own = await NST.loadFeatureModel(WEIGHTS, { styleLayers, contentLayers });
    const options = { size: 32, model: own, styleLayers, contentLayers, styleLayerWeights: [1, 3] };
    const n = new NST(image(32, 32, 6), image(32, 32, 7), options);
    n.generateFeatures();
    assert.deepEqual(
      n.gramStyleFeatures.map((g) => g.shape),
      [
        [1, 64, 64],
        [1, 256, 256],
      ],
    );
    assert.deepEqual(
      n.contentFeatures.map((f) => f.shape),
      [
        [1, 16, 16, 128],
        [1, 8, 8, 256],
      ],
    );
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
    const [j, jContent, jStyle] = n.totalCost(x).map((t) => t.dataSync()[0]!);
    // The same costs from the layers one by one, combined in float64.
    const outputs = own.apply(
      tf.tidy(() => tf.reverse(tf.sub(tf.mul(x, 255), [123.68, 116.779, 103.939]), -1)) as tf.Tensor4D,
    );
    const [f1, f2, f3] = outputs;
    const styleParts = [
      n.layerStyleCost(f1!, n.gramStyleFeatures[0]!),
      n.layerStyleCost(f3!, n.gramStyleFeatures[1]!),
    ].map((t) => t.dataSync()[0]!);
    const contentParts = [
      tf.mean(tf.squaredDifference(f2!, n.contentFeatures[0]!)).dataSync()[0]!,
      tf.mean(tf.squaredDifference(f3!, n.contentFeatures[1]!)).dataSync()[0]!,
    ];
    assert.ok(relDiff(jStyle!, 0.25 * styleParts[0]! + 0.75 * styleParts[1]!) < 1e-5);
    assert.ok(relDiff(jContent!, (contentParts[0]! + contentParts[1]!) / 2) < 1e-5);
    assert.ok(j! > 0);
    assert.throws(
      () => new NST(image(32, 32, 6), image(32, 32, 7), { ...options, model }),
      /the model has no output block3_conv2/,
    );
    n.dispose();
    own.dispose();
    tf.dispose([x, ...outputs]);
  });

  it('max pooling changes the deeper features, not the first block', async () => {
    const maxModel = await NST.loadFeatureModel(WEIGHTS, { pooling: 'max' });
    assert.equal(maxModel.pooling, 'max');
    const content = image(32, 32, 9);
    const [avg, max] = [
      new NST(content, content, { size: 32, model }),
      new NST(content, content, { size: 32, model: maxModel, pooling: 'max' }),
    ];
    for (const n of [avg, max]) n.generateFeatures();
    const diff = (l: number) =>
      tf.max(tf.abs(tf.sub(avg.gramStyleFeatures[l]!, max.gramStyleFeatures[l]!))).dataSync()[0]!;
    assert.equal(diff(0), 0);
    assert.ok(diff(1) > 1);
    assert.throws(
      () => new NST(content, content, { size: 32, model, pooling: 'max' }),
      /the model uses avg pooling, not max/,
    );
    for (const n of [avg, max]) n.dispose();
    maxModel.dispose();
  });

  it('refuses bad art-direction flags with one line and exit code 2', () => {
    const base = [
      'stylize',
      path.join(IMAGES, 'tubingen.jpg'),
      path.join(IMAGES, 'starry_night.jpg'),
      '-o',
      '/tmp/nst-never.png',
      '--size',
      '32',
    ];
    const cases: [string[], RegExp][] = [
      [['--style-layers', 'block1_conv1,block9_conv1'], /style-layers: unknown layer block9_conv1/],
      [['--style-weights', '1,2'], /style-weights must have one weight per style image \(1\)/],
      [
        ['--style-layer-weights', '1,-1'],
        /style-layer-weights must be falling, equal or a comma-separated list of non-negative numbers/,
      ],
      [['--style-scale', '-1'], /style-scale must be positive/],
      [['--pooling', 'min'], /pooling/],
      [['--preserve-colors', 'sepia'], /preserve-colors/],
      [['--content-layers', 'block1_conv1,block1_conv1'], /content-layers names a layer twice/],
    ];
    for (const [flags, message] of cases) {
      const run = nst([...base, ...flags]);
      assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    }
  });
});
