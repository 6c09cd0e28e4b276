/**
 * The graphs of a tiled evaluation (engine/tiled.ts, TileKernel), from the same network and cost
 * terms as the whole image's:
 * - the tile sums graph (pass 1, forward only): per style layer the weighted Gram sum
 *   Σₚ m(p)·Fₚ Fₚᵀ, per content layer Σₚ m(p)·|Fₚ − Pₚ|², the weighted variational cost V, and the
 *   content layers' activations (a tile's content targets);
 * - the tile gradient graph (pass 2): the same sums, and the gradient w.r.t. the tile of
 *   L = Σ_l ⟨K_l, S_l⟩ + Σ_k γ_k·C_k + ν·V derived from them, with K_l = dJ/dS_l from the whole
 *   image's Gram matrices.
 * Weight maps are [h_l, w_l] (they broadcast over NCHW's last two axes), the variational term's
 * [h, w]; content targets NCHW.
 */
import { differentiate, type Tuning } from '../graph/autodiff.js';
import { GraphBuilder, ints } from '../graph/builder.js';
import { contentSquares, flatten, toDouble, toFloat, variationCost } from './costs.js';
import { styleLossOf } from './style.js';
import { encodeNetwork, gridOf, outputOf, vgg, type NetworkSpec } from './vgg.js';

/** Names of the tile graphs' inputs and outputs. */
export const TILE_IO = {
  image: 'image',
  /** The tile's weight map at its pixels [h, w] (the variational cost's). */
  imageWeights: 'image_weights',
  /** Per style layer its weight map m [h_l, w_l]. */
  styleWeights: (i: number) => `style_weights_${i}`,
  /** Per content layer its weight map m [h_l, w_l]. */
  contentWeights: (k: number) => `content_weights_${k}`,
  /** Per content layer its target P, NCHW [1, c, h_l, w_l]. */
  contentTarget: (k: number) => `content_target_${k}`,
  /** Per style layer K = dJ/dS [c, c] (gradient graph). */
  gramGradient: (i: number) => `gram_gradient_${i}`,
  /** Per content layer γ, a scalar (gradient graph). */
  contentWeight: (k: number) => `content_gamma_${k}`,
  /** ν = dJ/dV, a scalar (gradient graph). */
  variationWeight: 'variation_gamma',
  /** Per style layer F diag(m) Fᵀ [c, c] (sums graph). */
  gramSum: (i: number) => `gram_sum_${i}`,
  /** Per content layer Σₚ m(p)·|Fₚ − Pₚ|², a scalar (sums graph). */
  contentSum: (k: number) => `content_sum_${k}`,
  /** The weighted variational cost V, a scalar (sums graph). */
  variationSum: 'variation_sum',
  /** Per content layer its activations NHWC [1, h_l, w_l, c] (sums graph). */
  features: (k: number) => `features_${k}`,
  /** dL/dtile [1, h, w, 3] (gradient graph). */
  gradient: 'gradient',
} as const;

/** The inputs both tile graphs take, the network on the tile, and the tile's weighted sums. */
function tileSums(g: GraphBuilder, spec: NetworkSpec) {
  const io = TILE_IO;
  const image = g.input(io.image, [1, spec.height, spec.width, 3]);
  const variation = variationCost(g, image, g.input(io.imageWeights, [spec.height, spec.width]));
  const steps = vgg(g, image, spec);
  const loss = styleLossOf(spec);
  const grams = spec.styleLayers.map((layer, i) => {
    const { value, channels: c } = outputOf(steps, layer);
    const weights = g.input(io.styleWeights(i), gridOf(g, spec, layer));
    return { sum: loss.sums(g, flatten(g, value, c), c, weights), rows: loss.rows(c), channels: c };
  });
  const content = spec.contentLayers.map((layer, k) => {
    const { value, channels } = outputOf(steps, layer);
    const weights = g.input(io.contentWeights(k), gridOf(g, spec, layer));
    const target = g.input(io.contentTarget(k), [1, channels, ...gridOf(g, spec, layer)]);
    return { sum: contentSquares(g, value, target, weights), value, channels };
  });
  return { image, grams, content, variation };
}

/**
 * The tile sums graph. Inputs: the tile [1, h, w, 3] in [0, 1] and its weight map; per style layer
 * its weight map; per content layer its weight map and target. Outputs: per style layer the
 * weighted Gram sum [c, c] (not divided by the positions), per content layer the weighted squared
 * distance and its activations NHWC, and the weighted variational cost.
 */
export function buildTileSumsModel(spec: NetworkSpec): Uint8Array {
  const io = TILE_IO;
  const g = new GraphBuilder('nst_tile_sums');
  const { grams, content, variation } = tileSums(g, spec);
  g.output(io.variationSum, toFloat(g, variation), []);
  grams.forEach(({ sum, rows, channels }, i) => g.output(io.gramSum(i), sum, [rows, channels]));
  content.forEach(({ sum, value, channels }, k) => {
    g.output(io.contentSum(k), toFloat(g, sum), []);
    const nhwc = g.op('Transpose', [value], { perm: ints([0, 2, 3, 1]) });
    g.output(io.features(k), nhwc, [1, ...gridOf(g, spec, spec.contentLayers[k]!), channels]);
  });
  return encodeNetwork(g, spec);
}

/**
 * The tile gradient graph. Inputs: those of the sums graph, per style layer K [c, c], per content
 * layer γ and ν (scalars). Output: dL/dtile [1, h, w, 3], derived from the sums with K_l, γ_k and
 * ν as the gradients flowing into them.
 */
export function buildTileGradientModel(spec: NetworkSpec & Tuning): Uint8Array {
  const io = TILE_IO;
  const g = new GraphBuilder('nst_tile_gradient');
  const { image, grams, content, variation } = tileSums(g, spec);
  const seeds = [
    ...grams.map(({ sum, rows, channels }, i) => ({
      value: sum,
      gradient: g.input(io.gramGradient(i), [rows, channels]),
    })),
    ...content.map(({ sum }, k) => ({ value: sum, gradient: toDouble(g, g.input(io.contentWeight(k), [])) })),
    { value: variation, gradient: toDouble(g, g.input(io.variationWeight, [])) },
  ];
  const [gradient] = differentiate(g, seeds, [image], spec);
  g.output(io.gradient, gradient!, [1, spec.height, spec.width, 3]);
  return encodeNetwork(g, spec);
}
