/**
 * The ONNX graphs of a tiled evaluation (engine/tiled.ts, TileKernel), from graph.ts's pieces:
 * - the tile sums graph (pass 1, forward only): per style layer the weighted Gram sum
 *   Σₚ m(p)·Fₚ Fₚᵀ = F diag(m) Fᵀ, per content layer Σₚ m(p)·|Fₚ − Pₚ|², and the content layers'
 *   activations (a tile's content targets);
 * - the tile gradient graph (pass 2): the gradient w.r.t. the tile of
 *   L = Σ_l ⟨K_l, F_l diag(m_l) F_lᵀ⟩ + Σ_k γ_k·Σₚ m_k(p)·|F_k − P_k|²,
 *   with K_l = dJ/dS_l from the whole image's Gram matrices. The variation term is the caller's.
 * Weight maps are [h_l, w_l] (they broadcast over NCHW's last two axes); content targets NCHW.
 */
import { GraphBuilder, int, ints, type Dim } from '../graph/builder.js';
import { layersUpTo } from '../vgg19.js';
import {
  backward,
  flatten,
  forward,
  outputOf,
  preprocess,
  specLayers,
  throughPreprocess,
  toDouble,
  toFloat,
  type EvaluationSpec,
  type NetworkSpec,
} from './graph.js';

/** Names of the tile graphs' inputs and outputs. */
export const TILE_IO = {
  image: 'image',
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
  /** Per style layer F diag(m) Fᵀ [c, c] (sums graph). */
  gramSum: (i: number) => `gram_sum_${i}`,
  /** Per content layer Σₚ m(p)·|Fₚ − Pₚ|², a scalar (sums graph). */
  contentSum: (k: number) => `content_sum_${k}`,
  /** Per content layer its activations NHWC [1, h_l, w_l, c] (sums graph). */
  features: (k: number) => `features_${k}`,
  /** dL/dtile [1, h, w, 3] (gradient graph). */
  gradient: 'gradient',
} as const;

/** A conv layer's grid [h_l, w_l] on a tile of h × w px: floor-halved at each pooling before it. */
export function gridAt(layer: string, h: number, w: number): [number, number] {
  const scale = 2 ** layersUpTo(layer).filter((l) => l.kind === 'pool').length;
  return [Math.floor(h / scale), Math.floor(w / scale)];
}

/** A conv layer's grid for the spec's size, as named dimensions where the size is given at run time. */
function gridOf(g: GraphBuilder, spec: NetworkSpec, layer: string): [Dim, Dim] {
  const { height, width } = spec;
  if (typeof height === 'number' && typeof width === 'number') return gridAt(layer, height, width);
  return [g.fresh(`h_${layer}`), g.fresh(`w_${layer}`)];
}

/** A style layer's activations and weight map. */
interface StyleTerm {
  value: string;
  channels: number;
  weights: string;
}

/** A content layer's activations, weight map and target. */
interface ContentTerm extends StyleTerm {
  target: string;
}

/** The inputs both tile graphs take, and the forward pass through the network. */
function tileNetwork(g: GraphBuilder, spec: NetworkSpec, withIndices: boolean) {
  const io = TILE_IO;
  const image = g.input(io.image, [1, spec.height, spec.width, 3]);
  const steps = forward(g, preprocess(g, image), specLayers(spec), spec.convs, spec.pooling, withIndices);
  const style: StyleTerm[] = spec.styleLayers.map((layer, i) => ({
    ...outputOf(steps, layer),
    weights: g.input(io.styleWeights(i), gridOf(g, spec, layer)),
  }));
  const content: ContentTerm[] = spec.contentLayers.map((layer, k) => {
    const { value, channels } = outputOf(steps, layer);
    const weights = g.input(io.contentWeights(k), gridOf(g, spec, layer));
    const target = g.input(io.contentTarget(k), [1, channels, ...gridOf(g, spec, layer)]);
    return { value, channels, weights, target };
  });
  return { steps, style, content };
}

/** F diag(m) of F [c, h·w]: each position's column scaled by its weight. */
const weighByPosition = (g: GraphBuilder, flat: string, m: string) =>
  g.op('Mul', [flat, g.op('Reshape', [m, g.int64s([1, -1])])], {}, 'weighted_flat');

/**
 * The tile sums graph. Inputs: the tile [1, h, w, 3] in [0, 1]; per style layer its weight map;
 * per content layer its weight map and target. Outputs: per style layer the weighted Gram sum
 * [c, c] (not divided by the positions), per content layer the weighted squared distance (summed
 * in float64, as the evaluation graph's costs) and its activations NHWC.
 */
export function buildTileSumsModel(spec: NetworkSpec): Uint8Array {
  const io = TILE_IO;
  const g = new GraphBuilder('nst_tile_sums');
  const { style, content } = tileNetwork(g, spec, false);
  style.forEach(({ value, channels, weights }, i) => {
    const flat = flatten(g, value, channels);
    const flatT = g.op('Transpose', [flat], { perm: ints([1, 0]) });
    const sum = g.op('MatMul', [weighByPosition(g, flat, weights), flatT], {}, 'weighted_gram');
    g.output(io.gramSum(i), sum, [channels, channels]);
  });
  content.forEach(({ value, channels, weights, target }, k) => {
    const diff = toDouble(g, g.op('Sub', [value, target], {}, 'content_diff'));
    const weighted = g.op('Mul', [g.op('Mul', [diff, diff]), toDouble(g, weights)], {}, 'weighted_squares');
    const sum = g.op('ReduceSum', [weighted], { keepdims: int(0) }, 'weighted_square_sum');
    g.output(io.contentSum(k), toFloat(g, sum), []);
    const nhwc = g.op('Transpose', [value], { perm: ints([0, 2, 3, 1]) });
    g.output(io.features(k), nhwc, [1, ...gridOf(g, spec, spec.contentLayers[k]!), channels]);
  });
  return g.encode();
}

/**
 * The tile gradient graph. Inputs: those of the sums graph, and per style layer K [c, c], per
 * content layer γ (a scalar). Output: dL/dtile [1, h, w, 3], from the layers' own gradients
 *   dL/dF_l = (K_l + K_lᵀ) F_l diag(m_l)  and  dL/dF_k = 2γ_k·m_k·(F_k − P_k)
 * back through the network and the preprocessing.
 */
export function buildTileGradientModel(spec: EvaluationSpec): Uint8Array {
  const io = TILE_IO;
  const g = new GraphBuilder('nst_tile_gradient');
  const { steps, style, content } = tileNetwork(g, spec, true);
  const direct = new Map<string, string[]>();
  const addDirect = (layer: string, gradient: string) => direct.set(layer, [...(direct.get(layer) ?? []), gradient]);

  style.forEach(({ value, channels, weights }, i) => {
    const K = g.input(io.gramGradient(i), [channels, channels]);
    const symmetric = g.op('Add', [K, g.op('Transpose', [K], { perm: ints([1, 0]) })], {}, 'gram_gradient_sym');
    const flat = flatten(g, value, channels);
    const dFlat = g.op('MatMul', [symmetric, weighByPosition(g, flat, weights)], {}, 'd_flat');
    addDirect(spec.styleLayers[i]!, g.op('Reshape', [dFlat, g.op('Shape', [value])], {}, 'd_style'));
  });
  content.forEach(({ value, weights, target }, k) => {
    const gamma = g.input(io.contentWeight(k), []);
    // The scale goes on the [h_l, w_l] map, not the larger c×h_l×w_l difference.
    const scale = g.op('Mul', [weights, g.op('Mul', [gamma, g.scalar(2)])], {}, 'content_scale');
    const diff = g.op('Sub', [value, target], {}, 'content_diff');
    addDirect(spec.contentLayers[k]!, g.op('Mul', [diff, scale], {}, 'd_content'));
  });

  const gradient = throughPreprocess(g, backward(g, steps, direct, spec));
  g.output(io.gradient, gradient, [1, spec.height, spec.width, 3]);
  return g.encode();
}
