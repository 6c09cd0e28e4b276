/**
 * The targets of the costs computed with ONNX Runtime: per style layer the blend Σ wᵢ·Gᵢ of the
 * style images' Gram matrices, per content layer the content image's activations. One features
 * graph with sizes given at run time serves the style images and the content image alike.
 */
import * as tf from '@tensorflow/tfjs';
import { ort, type Ort } from './runtime.js';
import type { Objective, TargetImages } from '../evaluator.js';
import { styleKey, styleTargetsOf, type StyleCache } from '../targets.js';
import { layersUpTo, modelOutputs } from '../vgg19.js';
import { graphObjective, type OnnxTargets } from './evaluator.js';
import { buildFeaturesModel, buildStyleTargetModel, FEATURES_IO } from '../objective/features.js';
import { readOnnxConvs } from './layout.js';
import { createSession, type SessionSettings } from './session.js';

export type { StyleCache };

/** What the features graph is written from: the evaluation graph's, but a frame's temporal cost (pixels, not features). */
function featuresObjective(objective: Objective) {
  const { temporal, ...rest } = graphObjective(objective);
  return rest;
}

/** What identifies a features session. */
export function featuresKey(weights: string, objective: Objective, settings: SessionSettings): string {
  return JSON.stringify(['features', weights, featuresObjective(objective), settings]);
}

/** Reads the weights, writes the features graph (any size) and creates its session. */
export async function featuresSession(weights: string, objective: Objective, settings: SessionSettings) {
  const { styleLayers, contentLayers } = objective;
  const layers = layersUpTo(modelOutputs(styleLayers, contentLayers).at(-1)!);
  const convs = await readOnnxConvs(weights, layers);
  // Direct convolutions: a forward pass a few times per working size, where Winograd's
  // transformed kernels (4× the weights) would cost more memory than they save time.
  const model = buildFeaturesModel({ height: 'height', width: 'width', ...featuresObjective(objective), convs });
  return createSession(model, settings);
}

/** Runs the features graph on one image [1, h, w, 3]: its outputs by name. */
async function features(session: Ort.InferenceSession, image: tf.Tensor4D): Promise<Ort.InferenceSession.ReturnType> {
  const [, h, w] = image.shape;
  const data = Float32Array.from(await image.data());
  return session.run({ [FEATURES_IO.image]: new ort.Tensor('float32', data, [1, h, w, 3]) });
}

const toTf = (t: Ort.Tensor) => tf.tensor(t.data as Float32Array, t.dims as number[]);

/** One style image's Gram matrices at the style layers: the cache's when it has them. */
async function styleGrams(
  session: Ort.InferenceSession,
  objective: Objective,
  image: tf.Tensor4D,
  cache: StyleCache,
): Promise<tf.Tensor3D[]> {
  const key = styleKey(image, objective);
  let grams = cache.get(key);
  if (!grams) {
    const out = await features(session, image);
    grams = objective.styleLayers.map((layer) => toTf(out[FEATURES_IO.style(layer)]!) as tf.Tensor3D);
    cache.set(key, grams);
  }
  return grams;
}

/**
 * The blended statistics made into the targets the style loss's cost takes, by its target graph
 * (a loss without one takes them as they are). The statistics are released.
 */
export async function prepareStyleTargets(
  objective: Objective,
  blend: tf.Tensor3D[],
  settings: SessionSettings,
): Promise<tf.Tensor3D[]> {
  const model = buildStyleTargetModel(objective.styleLayers, objective.styleLoss ?? 'gram');
  if (!model) return blend;
  const { session } = await createSession(model, settings);
  try {
    const feeds: Record<string, Ort.Tensor> = {};
    objective.styleLayers.forEach((layer, l) => {
      const stats = blend[l]!;
      feeds[FEATURES_IO.style(layer)] = new ort.Tensor('float32', Float32Array.from(stats.dataSync()), stats.shape);
    });
    const out = await session.run(feeds);
    return objective.styleLayers.map((layer) => toTf(out[FEATURES_IO.target(layer)]!) as tf.Tensor3D);
  } finally {
    tf.dispose(blend);
    await session.release();
  }
}

/** The targets of the images' working size (new tensors, the caller's). */
export async function computeOnnxTargets(
  session: Ort.InferenceSession,
  objective: Objective,
  images: TargetImages,
  cache: StyleCache,
  settings: SessionSettings = { threads: 1 },
): Promise<OnnxTargets> {
  let style: tf.Tensor3D[] = [];
  try {
    // Each style image's statistics are the cache's: computed once, left there.
    const statistics: tf.Tensor3D[][] = [];
    for (const image of images.styles) statistics.push(await styleGrams(session, objective, image, cache));
    style = await styleTargetsOf(statistics, images, (blend) => prepareStyleTargets(objective, blend, settings));
    const out = await features(session, images.content);
    const content = objective.contentLayers.map((layer) => toTf(out[FEATURES_IO.features(layer)]!) as tf.Tensor4D);
    return { style, content };
  } catch (error) {
    tf.dispose(style);
    throw error;
  }
}
