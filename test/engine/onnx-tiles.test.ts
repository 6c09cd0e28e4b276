import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Objective, TileKernel, TileWeights } from '../../src/engine/evaluator.js';
import { createOnnxEngine, DEFAULT_GRAPH, type OnnxEngine } from '../../src/engine/onnx/engine.js';
import type { GraphSettings } from '../../src/engine/onnx/evaluator.js';
import { SessionCache } from '../../src/engine/onnx/session.js';
import { createOnnxTileKernel } from '../../src/engine/onnx/tiles.js';
import { channelsOf, layerGrid as gridAt, VGG19_CONV_SPECS } from '../../src/engine/vgg19.js';
import { readConvWeights, type ConvWeights } from '../../src/io/weights.js';
import {
  features64,
  tileGradients64,
  tileSums64,
  type Pool,
  type Setup,
  type TileWeights64,
} from './onnx-reference.js';
import { randomArray, relativeMaxError, relDiff, useWasm, WEIGHTS } from '../helpers.js';

const THREADS = 2;
const SUM_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;
/** The worst errors measured, printed at the end for the record. */
const measured = new Map<string, number>();

function record(what: string, error: number, tolerance: number, label: string): void {
  measured.set(what, Math.max(measured.get(what) ?? 0, error));
  assert.ok(error <= tolerance, `${label}: ${what} off by ${error.toExponential(2)} (tolerance ${tolerance})`);
}

/** Values in [lo, hi), rounded to float32 so that both sides see the same values. */
const random32 = (n: number, seed: number, lo: number, hi: number) =>
  Float64Array.from(randomArray(n, seed, lo, hi), Math.fround);
const tensor = (data: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(data), shape);

interface Case {
  name: string;
  h: number;
  w: number;
  styleLayers: string[];
  contentLayers: string[];
  pooling: Pool;
  /** Through the engine (its default graph), else a kernel of these settings on a cache of its own. */
  graph?: Partial<GraphSettings>;
}

const SHALLOW_STYLE = ['block1_conv1', 'block2_conv1', 'block3_conv1'];
const DEFAULT_STYLE = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

const CASES: Case[] = [
  {
    name: 'shallow layers, average pooling, through the engine',
    h: 40,
    w: 48,
    styleLayers: SHALLOW_STYLE,
    contentLayers: ['block3_conv2'],
    pooling: 'avg',
  },
  {
    name: 'shallow layers, max pooling, odd size, two content layers, sizes given at run time, ConvTranspose, Sign',
    h: 41,
    w: 47,
    styleLayers: SHALLOW_STYLE,
    contentLayers: ['block2_conv2', 'block3_conv2'],
    pooling: 'max',
    graph: { dims: 'symbolic', backwardConv: 'convTranspose', reluMask: 'sign' },
  },
  {
    name: 'shallow layers, max pooling, through the engine',
    h: 40,
    w: 48,
    styleLayers: SHALLOW_STYLE,
    contentLayers: ['block3_conv2'],
    pooling: 'max',
  },
  {
    name: 'default layers, average pooling, through the engine',
    h: 64,
    w: 48,
    styleLayers: DEFAULT_STYLE,
    contentLayers: ['block5_conv2'],
    pooling: 'avg',
  },
];

/** What one case feeds both sides: the tile, its weight maps, content targets, K_l, γ_k and ν. */
interface Inputs {
  tile: Float64Array;
  weights: TileWeights64;
  targets: Float64Array[];
  gramGradients: Float64Array[];
  contentWeights: number[];
  variationWeight: number;
}

function inputsOf(c: Case, setup: Setup): Inputs {
  const { h, w } = c;
  // Non-uniform weights in [0, 1), a quarter of them zero (as at a tile's outer edge).
  const map = ([lh, lw]: [number, number], seed: number) =>
    random32(lh * lw, seed, -0.33, 1).map((v) => Math.max(0, v));
  const other = random32(h * w * 3, 3, 0, 1);
  return {
    tile: random32(h * w * 3, 1, 0, 1),
    weights: {
      image: map([h, w], 9),
      style: c.styleLayers.map((l, i) => map(gridAt(l, h, w), 10 + i)),
      content: c.contentLayers.map((l, k) => map(gridAt(l, h, w), 20 + k)),
    },
    targets: features64(other, h, w, setup).contents.map((f) => Float64Array.from(f, Math.fround)),
    gramGradients: c.styleLayers.map((l, i) => random32(channelsOf(l) ** 2, 30 + i, -1, 1)),
    contentWeights: c.contentLayers.map((_, k) => Math.fround(0.7 + 0.6 * k)),
    variationWeight: 2.5,
  };
}

/** The inputs as the kernels take them (tf tensors, NHWC); dispose with `tf.dispose(Object.values(...).flat())`. */
function tensorsOf(c: Case, x: Inputs) {
  return {
    tile: tensor(x.tile, [1, c.h, c.w, 3]) as tf.Tensor4D,
    weights: {
      image: tensor(x.weights.image, [c.h, c.w]) as tf.Tensor2D,
      style: x.weights.style.map((m, i) => tensor(m, gridAt(c.styleLayers[i]!, c.h, c.w)) as tf.Tensor2D),
      content: x.weights.content.map((m, k) => tensor(m, gridAt(c.contentLayers[k]!, c.h, c.w)) as tf.Tensor2D),
    },
    targets: x.targets.map((f, k) => {
      const layer = c.contentLayers[k]!;
      return tensor(f, [1, ...gridAt(layer, c.h, c.w), channelsOf(layer)]) as tf.Tensor4D;
    }),
    gramGradients: x.gramGradients.map((K) => {
      const n = Math.sqrt(K.length);
      return tensor(K, [n, n]) as tf.Tensor2D;
    }),
    zeroGrams: x.gramGradients.map((K) => tf.zeros([Math.sqrt(K.length), Math.sqrt(K.length)]) as tf.Tensor2D),
  };
}

type Tensors = ReturnType<typeof tensorsOf>;
const disposeAll = (t: Tensors) =>
  tf.dispose([
    t.tile,
    t.weights.image,
    ...t.weights.style,
    ...t.weights.content,
    ...t.targets,
    ...t.gramGradients,
    ...t.zeroGrams,
  ]);

after(() => {
  for (const [what, error] of measured) console.log(`worst ${what}: ${error.toExponential(2)}`);
});

describe('ONNX tile kernel against a float64 reference', () => {
  let engine: OnnxEngine;
  let weights: Map<string, ConvWeights>;
  const cache = new SessionCache(0);
  before(async () => {
    engine = await createOnnxEngine({ weights: WEIGHTS, threads: THREADS });
    await useWasm();
    const specs = VGG19_CONV_SPECS.filter((s) => s.name <= 'block5_conv2');
    weights = new Map((await readConvWeights(WEIGHTS, specs)).map((w) => [w.name, w]));
  });
  after(async () => {
    engine.dispose();
    await cache.clear();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const setup: Setup = {
        styleLayers: c.styleLayers,
        contentLayers: c.contentLayers,
        styleLayerWeights: c.styleLayers.map(() => 1 / c.styleLayers.length),
        pooling: c.pooling,
        weights,
      };
      const objective: Objective = { ...setup, alpha: 1, beta: 1, variation: 1 };
      const x = inputsOf(c, setup);
      const sums = tileSums64(x.tile, c.h, c.w, setup, x.weights, x.targets);
      const ref = tileGradients64(x.tile, c.h, c.w, setup, x.weights, x.gramGradients, x.targets, x.contentWeights);

      const tensorsBefore = tf.memory().numTensors;
      const kernel = c.graph
        ? await createOnnxTileKernel(cache, WEIGHTS, objective, [c.h, c.w], {
            ...DEFAULT_GRAPH,
            threads: THREADS,
            ...c.graph,
          })
        : await engine.createTileKernel(objective, [c.h, c.w]);
      const t = tensorsOf(c, x);
      const inputTensors = tf.memory().numTensors;
      try {
        const features = await kernel.features(t.tile);
        features.forEach((f, k) => {
          const layer = c.contentLayers[k]!;
          assert.deepEqual(f.shape, [1, ...gridAt(layer, c.h, c.w), channelsOf(layer)]);
          record('features', relativeMaxError(f.dataSync(), sums.features[k]!), SUM_TOLERANCE, `${c.name}, ${layer}`);
        });
        tf.dispose(features);

        for (const targets of [t.targets, null]) {
          const got = await kernel.sums(t.tile, t.weights, targets);
          got.grams.forEach((g, i) => {
            const label = `${c.name}, ${c.styleLayers[i]}`;
            assert.deepEqual(g.shape, [channelsOf(c.styleLayers[i]!), channelsOf(c.styleLayers[i]!)]);
            record('Gram sums', relativeMaxError(g.dataSync(), sums.grams[i]!), SUM_TOLERANCE, label);
          });
          record('variation sums', relDiff(got.variation, sums.variation), SUM_TOLERANCE, c.name);
          if (targets) {
            got.content.forEach((s, k) =>
              record('content sums', relDiff(s, sums.content[k]!), SUM_TOLERANCE, `${c.name}, ${c.contentLayers[k]}`),
            );
          } else {
            assert.deepEqual(
              got.content,
              c.contentLayers.map(() => 0),
              'no content sums without targets',
            );
          }
          tf.dispose(got.grams);
        }

        // Each part alone (so that none hides in another's scale), then all three.
        const noContent = c.contentLayers.map(() => 0);
        const nu = x.variationWeight;
        const runs: [string, tf.Tensor2D[], number[], number, Float64Array][] = [
          ['style gradient', t.gramGradients, noContent, 0, ref.style],
          ['content gradient', t.zeroGrams, x.contentWeights, 0, ref.content],
          ['variation gradient', t.zeroGrams, noContent, nu, ref.variation.map((v) => nu * v)],
          [
            'gradient',
            t.gramGradients,
            x.contentWeights,
            nu,
            ref.style.map((v, i) => v + ref.content[i]! + nu * ref.variation[i]!),
          ],
        ];
        for (const [what, gramGradients, contentWeights, variationWeight, want] of runs) {
          const seeds = { gramGradients, contentWeights, variationWeight };
          const gradient = await kernel.gradient(t.tile, t.weights, t.targets, seeds);
          assert.deepEqual(gradient.shape, [1, c.h, c.w, 3]);
          record(what, relativeMaxError(gradient.dataSync(), want), GRADIENT_TOLERANCE, c.name);
          gradient.dispose();
        }
        assert.equal(tf.memory().numTensors, inputTensors, 'no tensor left behind by the kernel');
      } finally {
        kernel.dispose();
        disposeAll(t);
      }
      assert.equal(tf.memory().numTensors, tensorsBefore);
      await assert.rejects(kernel.sums(t.tile, t.weights, null), /disposed/);
    });
  }
});

describe('ONNX tile kernel resources', () => {
  const objective: Objective = {
    alpha: 1,
    beta: 1,
    variation: 1,
    styleLayers: ['block1_conv1', 'block2_conv1'],
    contentLayers: ['block1_conv2'],
    styleLayerWeights: [0.5, 0.5],
    pooling: 'max',
  };
  const graph = { ...DEFAULT_GRAPH, threads: 1 };
  const kernelOf = (cache: SessionCache, h = 16, w = 12) =>
    createOnnxTileKernel(cache, WEIGHTS, objective, [h, w], graph);
  const weightsOf = (h: number, w: number): TileWeights => ({
    image: tf.ones([h, w]),
    style: [tf.ones([h, w]), tf.ones([h / 2, w / 2])] as tf.Tensor2D[],
    content: [tf.ones([h, w])] as tf.Tensor2D[],
  });

  it('shares two sessions between kernels of one size and releases them when none uses them', async () => {
    const cache = new SessionCache(0);
    const [a, b] = [await kernelOf(cache), await kernelOf(cache)];
    assert.equal(a.provider, 'cpu');
    assert.equal(cache.size, 2, 'one size: a sums and a gradient session');
    const c = await kernelOf(cache, 16, 16);
    assert.equal(cache.size, 4, 'another size, two more');
    a.dispose();
    a.dispose();
    assert.equal(cache.size, 4, 'still in use by b');
    b.dispose();
    c.dispose();
    assert.equal(cache.size, 0);
  });

  it('a dispose during a run lets it finish, then releases the sessions', async () => {
    const cache = new SessionCache(0);
    const kernel = await kernelOf(cache);
    const tile = tf.randomUniform([1, 16, 12, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const weights = weightsOf(16, 12);
    const running = kernel.sums(tile, weights, null);
    kernel.dispose();
    assert.equal(cache.size, 2, 'held while the run goes on');
    const sums = await running;
    assert.deepEqual(
      sums.grams.map((g) => g.shape),
      [
        [64, 64],
        [128, 128],
      ],
    );
    assert.equal(cache.size, 0);
    tf.dispose([tile, weights.image, ...weights.style, ...weights.content, ...sums.grams]);
  });

  it('rejects tiles, weight maps and Gram gradients of the wrong size', async () => {
    const cache = new SessionCache(0);
    await assert.rejects(kernelOf(cache, 16, 1), /at least 2 px/);
    const kernel = await kernelOf(cache);
    const tile = tf.zeros([1, 16, 12, 3]) as tf.Tensor4D;
    const weights = weightsOf(16, 12);
    const wrongTile = tf.zeros([1, 12, 16, 3]) as tf.Tensor4D;
    const wrongWeights = { ...weightsOf(16, 12), style: [weights.style[0]!, weights.style[0]!] };
    const K = [tf.zeros([64, 64]), tf.zeros([64, 64])] as tf.Tensor2D[];
    const target = [tf.zeros([1, 16, 12, 64])] as tf.Tensor4D[];
    try {
      await assert.rejects(kernel.features(wrongTile), /the tile is \[1, 12, 16, 3\]/);
      await assert.rejects(kernel.sums(tile, wrongWeights, null), /style weight map 1 is \[16, 12\]/);
      const seeds = { gramGradients: K, contentWeights: [1], variationWeight: 1 };
      await assert.rejects(kernel.gradient(tile, weights, target, seeds), /Gram gradient 1 is \[64, 64\]/);
      const fewer = { ...seeds, gramGradients: K.slice(1) };
      await assert.rejects(kernel.gradient(tile, weights, target, fewer), /1 Gram gradients given for 2/);
      const wrongImage = { ...weights, image: weights.style[1]! };
      await assert.rejects(kernel.sums(tile, wrongImage, null), /image weight map is \[8, 6\]/);
    } finally {
      kernel.dispose();
      const own = [weights.image, ...weights.style, ...weights.content, wrongWeights.image, ...wrongWeights.content];
      tf.dispose([tile, wrongTile, ...own, ...K, ...target]);
    }
  });

  it("the engine keeps one size's tile sessions for the next kernel, and counts them", async () => {
    const engine = await createOnnxEngine({ weights: WEIGHTS, threads: 1 });
    try {
      (await engine.createTileKernel(objective, [16, 12])).dispose();
      assert.equal(engine.cached.models, 2);
      const kernel = await engine.createTileKernel(objective, [16, 12]);
      assert.equal(engine.cached.models, 2, 'the idle ones were taken again');
      kernel.dispose();
    } finally {
      engine.dispose();
    }
  });
});
