import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { costLines } from '../../src/cli/terminal.js';
import { resizeBicubic, scaleImage } from '../../src/core/resize.js';
import { scaleSizes, schedule, splitIterations } from '../../src/core/schedule.js';
import { resolveRunSettings } from '../../src/core/settings.js';
import { stylize, type StylizeProgress } from '../../src/core/stylize.js';
import type { Engine } from '../../src/engine/evaluator.js';
import { createEngine } from '../../src/engine/factory.js';
import { randomArray, useWasm, WEIGHTS } from '../helpers.js';

const image = (h: number, w: number, seed: number) => ({
  data: randomArray(h * w * 3, seed, 0, 255).map(Math.round),
  shape: [h, w, 3],
});

describe('scales and iterations', () => {
  it('halves the size per scale, or takes the sizes given, ending at size', () => {
    assert.deepEqual(scaleSizes(512), [512]);
    assert.deepEqual(scaleSizes(512, 3), [128, 256, 512]);
    assert.deepEqual(scaleSizes(500, 2), [250, 500]);
    assert.deepEqual(scaleSizes(512, [128, 300]), [128, 300, 512]);
    assert.deepEqual(scaleSizes(512, [256, 512]), [256, 512]);
    assert.throws(() => scaleSizes(512, [256, 128]), /ascending/);
    assert.throws(() => scaleSizes(256, [512]), /must not exceed size/);
    assert.throws(() => scaleSizes(512, 0), /scales must be/);
  });

  it('splits a total so that each scale gets half the iterations of the one before', () => {
    assert.deepEqual(splitIterations(1000, 1), [1000]);
    assert.deepEqual(splitIterations(1000, 3), [573, 285, 142]);
    assert.deepEqual(splitIterations(3, 3), [1, 1, 1]);
    assert.deepEqual(splitIterations([5, 4], 2), [5, 4]);
    assert.throws(() => splitIterations([5], 2), /one entry per scale/);
    assert.throws(() => splitIterations(2, 3), /at least the number of scales/);
  });

  it("steps by another ratio, and from a first size up to size with a list's last count repeated", () => {
    const r = Math.SQRT2;
    assert.deepEqual(scaleSizes(512, 3, r), [256, 362, 512]);
    assert.deepEqual(schedule(512, 'auto', [1000, 500], { ratio: r, from: 128 }), {
      sizes: [128, 181, 256, 362, 512],
      counts: [1000, 500, 500, 500, 500],
    });
    assert.deepEqual(schedule(100, 'auto', [1000, 500], { ratio: r, from: 128 }), { sizes: [100], counts: [1000] });
    assert.deepEqual(schedule(300, 'auto', 70, { ratio: 2, from: 75 }), {
      sizes: [75, 150, 300],
      counts: [40, 20, 10],
    });
    // Without a first size, auto keeps its halvings whatever the ratio.
    assert.deepEqual(schedule(512, 'auto', 700, { ratio: r }), schedule(512, 'auto', 700));
    // The painterly preset is the recipe at every size: √2 steps from 128 px, 1000 then 500 iterations.
    const painterly = resolveRunSettings({ preset: 'painterly', size: 1024 }, 1);
    assert.deepEqual(painterly.scales, [128, 181, 256, 362, 512, 724, 1024]);
    assert.deepEqual(painterly.iterations, [1000, 500, 500, 500, 500, 500, 500]);
    assert.deepEqual(
      [painterly.styleLoss, painterly.pooling, painterly.optimizer, painterly.lr, painterly.average],
      ['w2', 'max', 'adam', 0.02, 0.99],
    );
    assert.deepEqual(
      painterly.styleLayerWeights,
      [256, 64, 16, 4, 1].map((w) => w / 341),
    );
    assert.deepEqual([painterly.contentLayers, painterly.alpha], [['block4_conv2'], 0.015]);
  });
});

describe('coarse-to-fine stylize', () => {
  let engine: Engine;
  before(async () => {
    await useWasm();
    engine = await createEngine({ engine: 'onnx', weights: WEIGHTS });
  });
  after(() => engine.dispose());

  it('produces the requested final size, reports the scales, and the same seed gives the same image', async () => {
    const style = image(40, 40, 3);
    const content = image(30, 40, 4); // at size 44: 33×44, at the first scale (22 px) 17×22
    const events: StylizeProgress[] = [];
    const lines: string[] = [];
    // The command's --step 2 lines, from the run's progress events.
    const report = costLines(2, (l) => lines.push(l));
    const run = (onProgress?: (e: StylizeProgress) => void) =>
      stylize(style, content, {
        engine,
        size: 44,
        scales: 2,
        iterations: [3, 2],
        optimizer: 'lbfgs',
        init: 'noise',
        seed: 9,
        onProgress: (e) => {
          report(e);
          onProgress?.(e);
        },
      });
    const [a, costA] = await run((e) => events.push(e));
    assert.deepEqual(a.shape, [33, 44, 3]);
    assert.ok(a.dataSync().every((v) => v >= 0 && v <= 1));
    assert.deepEqual(
      events.map((e) => [e.scale!.index, e.scale!.size, e.iteration]),
      [
        [1, 22, 0],
        [1, 22, 1],
        [1, 22, 2],
        [1, 22, 3],
        [2, 44, 0],
        [2, 44, 1],
        [2, 44, 2],
      ],
    );
    assert.ok(
      events.every((e, i) => i === 0 || e.elapsedMs >= events[i - 1]!.elapsedMs),
      'elapsed time counts over the whole run',
    );
    assert.deepEqual(
      lines.map((l) => l.split(':')[0]),
      [
        'Scale 1/2',
        'Cost at iteration 0',
        'Cost at iteration 2',
        'Cost at iteration 3',
        'Scale 2/2',
        'Cost at iteration 0',
        'Cost at iteration 2',
      ],
    );
    // The first run left the engine an evaluation session and the style's targets at each scale:
    // the second run, with the same style, reuses them and leaves nothing but its result.
    assert.deepEqual(engine.cached, { models: 2, styleTargets: 2 });
    const before = tf.memory().numTensors;
    const [b, costB] = await run();
    assert.equal(tf.memory().numTensors, before + 1);
    assert.equal(costA, costB);
    assert.deepEqual(a.dataSync(), b.dataSync());
    assert.deepEqual(engine.cached, { models: 2, styleTargets: 2 }, 'nothing new was built');
    tf.dispose([a, b]);
  });

  it("with carryMoments starts the next scale's Adam from the last scale's moments, resized, its step count kept", async () => {
    const style = image(40, 40, 5);
    const content = image(30, 40, 6);
    const states: { scale: number; iteration: number; t: number; m?: Float32Array; shape?: number[] }[] = [];
    const [result] = await stylize(style, content, {
      engine,
      size: 44,
      scales: [22],
      iterations: [3, 2],
      optimizer: 'adam',
      carryMoments: true,
      checkpointEvery: 1,
      onCheckpoint: ({ scale, state }) => {
        const m = state.optimizer.tensors['m'];
        const t = state.optimizer.values['t']!;
        states.push({ scale, iteration: state.iteration, t, m: m?.dataSync() as Float32Array, shape: m?.shape });
      },
    });
    result.dispose();
    const last = states.find((s) => s.scale === 0 && s.iteration === 3)!;
    const first = states.find((s) => s.scale === 1 && s.iteration === 0)!;
    assert.equal(first.t, 3, 'the step count goes on');
    assert.deepEqual(first.shape, [1, 33, 44, 3]);
    const want = tf.tidy(() =>
      tf.image
        .resizeBilinear(tf.tensor4d(last.m!, last.shape as [number, number, number, number]), [33, 44])
        .dataSync(),
    );
    assert.ok(first.m!.every((v, i) => Math.abs(v - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!))));
  });

  it('starts the next scale from the initial image there plus the upsampled change of the previous scale', async () => {
    const style = image(40, 40, 5);
    const content = image(30, 40, 6);
    const contentTensor = tf.tensor3d(Float32Array.from(content.data), [30, 40, 3]);
    // The best image at the end of scale 1 and the image scale 2 starts from, copied out of the run.
    const seen: { previous?: Float32Array; start?: Float32Array } = {};
    const [result] = await stylize(style, content, {
      engine,
      size: 44,
      scales: [22],
      iterations: [3, 1],
      optimizer: 'lbfgs',
      checkpointEvery: 3,
      onCheckpoint: ({ scale, state }) => {
        if (scale === 0) seen.previous = state.bestImage.dataSync() as Float32Array;
        else if (state.iteration === 0) seen.start = state.image.dataSync() as Float32Array;
      },
    });
    const { previous, start } = seen;
    assert.ok(previous && start);
    const [coarse, fine] = [scaleImage(contentTensor, 22), scaleImage(contentTensor, 44)]; // [1, 17, 22, 3], [1, 33, 44, 3]
    const coarseContent = coarse.dataSync();
    const change = tf.tensor4d(
      previous.map((v, i) => v - coarseContent[i]!),
      [1, 17, 22, 3],
    );
    const upChange = resizeBicubic(change, 33, 44).dataSync();
    const upResult = resizeBicubic(tf.tensor4d(previous, [1, 17, 22, 3]), 33, 44).dataSync();
    const fineContent = fine.dataSync();
    let worst = 0;
    let fromPlainUpsample = 0;
    fineContent.forEach((c, i) => {
      worst = Math.max(worst, Math.abs(start[i]! - Math.min(1, Math.max(0, c + upChange[i]!))));
      fromPlainUpsample = Math.max(fromPlainUpsample, Math.abs(start[i]! - Math.min(1, Math.max(0, upResult[i]!))));
    });
    assert.ok(worst < 1e-5, `start differs from content + upsampled change by ${worst}`);
    assert.ok(fromPlainUpsample > 0.05, 'the content detail is kept, not just the result upsampled');
    tf.dispose([result, contentTensor, coarse, fine, change]);
  });

  it('refuses a first scale too small for the features, saying what to change', async () => {
    await assert.rejects(stylize(image(40, 40, 3), image(30, 40, 4), { engine, size: 40, scales: 3, iterations: 3 }), {
      name: 'InputError',
      message: /scale of 10 px .* at least 16 px .*fewer scales/,
    });
  });
});
