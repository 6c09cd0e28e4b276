/**
 * The targets' graphs, from the same network and cost terms as the evaluation: the features graph
 * (an image → per style layer its averaged statistics, per content layer its activations) and,
 * for a style loss that prepares its target, the graph that does so once the styles are blended.
 */
import { GraphBuilder, ints } from '../graph/builder.js';
import { channelsOf } from '../vgg19.js';
import { flatten, positionsOf } from './costs.js';
import { meansOf, styleLossOf, type StyleLossName } from './style.js';
import { encodeNetwork, outputOf, vgg, type NetworkSpec } from './vgg.js';

/** Names of the features graph's and the target graph's inputs and outputs. */
export const FEATURES_IO = {
  image: 'image',
  style: (layer: string) => `style_${layer}`,
  features: (layer: string) => `features_${layer}`,
  target: (layer: string) => `target_${layer}`,
} as const;

/**
 * The features graph: the image [1, h, w, 3] in [0, 1] → per style layer its statistics averaged
 * over its positions [1, rows, c] (the Gram matrix for 'gram'), per content layer its activations
 * NHWC [1, h', w', c].
 */
export function buildFeaturesModel(spec: NetworkSpec): Uint8Array {
  const g = new GraphBuilder('nst_features');
  const image = g.input(FEATURES_IO.image, [1, spec.height, spec.width, 3]);
  const steps = vgg(g, image, spec);
  const loss = styleLossOf(spec);
  for (const layer of spec.styleLayers) {
    const { value, channels: c } = outputOf(steps, layer);
    const flat = flatten(g, value, c);
    const means = meansOf(g, loss.sums(g, flat, c), positionsOf(g, flat, c));
    const rows = loss.rows(c);
    g.output(FEATURES_IO.style(layer), g.op('Reshape', [means, g.int64s([1, rows, c])]), [1, rows, c]);
  }
  for (const layer of spec.contentLayers) {
    const { value, channels } = outputOf(steps, layer);
    const nhwc = g.op('Transpose', [value], { perm: ints([0, 2, 3, 1]) });
    g.output(FEATURES_IO.features(layer), nhwc, [1, g.fresh('h'), g.fresh('w'), channels]);
  }
  return encodeNetwork(g, spec);
}

/**
 * The target graph of a style loss that prepares its targets: per style layer the blended
 * statistics [1, rows, c] → the target the cost takes [1, rows, c]; null when the loss has none.
 */
export function buildStyleTargetModel(styleLayers: readonly string[], styleLoss: StyleLossName): Uint8Array | null {
  const loss = styleLossOf({ styleLoss });
  if (!loss.prepare) return null;
  const g = new GraphBuilder('nst_style_target');
  for (const layer of styleLayers) {
    const c = channelsOf(layer);
    const rows = loss.rows(c);
    const means = g.op('Reshape', [g.input(FEATURES_IO.style(layer), [1, rows, c]), g.int64s([rows, c])]);
    const target = g.op('Reshape', [loss.prepare(g, means, c), g.int64s([1, rows, c])]);
    g.output(FEATURES_IO.target(layer), target, [1, rows, c]);
  }
  return g.encode();
}
