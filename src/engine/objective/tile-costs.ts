/**
 * The tile costs graph of a tiled evaluation (engine/tiled.ts): from the whole image's sums, added
 * up over its tiles, to J_style and J_content and the gradients that flow back into those sums
 * (K_l = dJ/dS_l for each style layer, γ_k = dJ/dC_k for each content layer), which pass 2 feeds
 * to the tile gradient graph. The same style loss and cost terms as the whole image's, derived.
 */
import { differentiate } from '../graph/autodiff.js';
import { GraphBuilder, int } from '../graph/builder.js';
import { channelsOf, layerGrid } from '../vgg19.js';
import { toDouble, toFloat } from './costs.js';
import { meansOf, styleLossOf, type StyleLossName } from './style.js';

/** Names of the tile costs graph's inputs and outputs. */
export const TILE_COSTS_IO = {
  alpha: 'alpha',
  beta: 'beta',
  styleLayerWeights: 'style_layer_weights',
  /** Per style layer its sums over the whole image [rows, c], and its prepared target [1, rows, c]. */
  styleSums: (i: number) => `style_sums_${i}`,
  styleTarget: (i: number) => `style_target_${i}`,
  /** Per content layer Σₚ |Fₚ − Pₚ|² over the whole image, a scalar. */
  contentSum: (k: number) => `content_sum_${k}`,
  content: 'J_content',
  style: 'J_style',
  gramGradient: (i: number) => `gram_gradient_${i}`,
  contentWeight: (k: number) => `content_gamma_${k}`,
} as const;

export interface TileCostsSpec {
  /** The whole image's size. */
  height: number;
  width: number;
  styleLayers: readonly string[];
  contentLayers: readonly string[];
  styleLoss?: StyleLossName;
}

/** A layer's channels and its positions over an image of h × w px. */
const layerSize = (layer: string, h: number, w: number) => ({
  channels: channelsOf(layer),
  positions: layerGrid(layer, h, w).reduce((x, y) => x * y),
});

export function buildTileCostsModel(spec: TileCostsSpec): Uint8Array {
  const io = TILE_COSTS_IO;
  const g = new GraphBuilder('nst_tile_costs');
  const loss = styleLossOf(spec);
  const [alpha, beta] = [io.alpha, io.beta].map((name) => g.input(name, []));
  const layerWeights = g.input(io.styleLayerWeights, [spec.styleLayers.length]);
  const sums = spec.styleLayers.map((layer, i) => {
    const { channels: c } = layerSize(layer, spec.height, spec.width);
    return g.input(io.styleSums(i), [loss.rows(c), c]);
  });
  const styleCosts = spec.styleLayers.map((layer, i) => {
    const { channels: c, positions } = layerSize(layer, spec.height, spec.width);
    const rows = loss.rows(c);
    const target = g.op('Reshape', [g.input(io.styleTarget(i), [1, rows, c]), g.int64s([rows, c])]);
    const weight = toDouble(g, g.op('Gather', [layerWeights, g.int64s([i], [])], { axis: int(0) }));
    return g.op('Mul', [loss.cost(g, meansOf(g, sums[i]!, g.scalar(positions)), target, c), weight]);
  });
  const contentSums = spec.contentLayers.map((_, k) => g.input(io.contentSum(k), []));
  const contentCosts = spec.contentLayers.map((layer, k) => {
    const { channels, positions } = layerSize(layer, spec.height, spec.width);
    return g.op('Div', [toDouble(g, contentSums[k]!), g.scalar64(channels * positions)]);
  });
  const jStyle = g.op('Sum', styleCosts, {}, 'style_cost');
  const jContent = g.op('Div', [g.op('Sum', contentCosts), g.scalar64(spec.contentLayers.length)], {}, 'content_cost');
  const total = g.op('Add', [g.op('Mul', [jContent, toDouble(g, alpha!)]), g.op('Mul', [jStyle, toDouble(g, beta!)])]);
  const gradients = differentiate(g, [{ value: total, gradient: g.scalar64(1) }], [...sums, ...contentSums]);
  g.output(io.style, toFloat(g, jStyle), []);
  g.output(io.content, toFloat(g, jContent), []);
  sums.forEach((_, i) => g.output(io.gramGradient(i), gradients[i]!));
  contentSums.forEach((_, k) => g.output(io.contentWeight(k), gradients[sums.length + k]!, []));
  return g.encode();
}
