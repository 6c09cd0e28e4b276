/**
 * The evaluation graph: J = α·J_content + β·J_style + var·J_var written forward from the cost
 * terms (costs.ts), and dJ/dimage derived from it by the reverse pass (graph/autodiff.ts).
 */
import { differentiate, type Tuning } from '../graph/autodiff.js';
import { GraphBuilder, int } from '../graph/builder.js';
import { contentCost, flatten, positionsOf, temporalCost, toDouble, toFloat, variationCost } from './costs.js';
import { meansOf, styleLossOf } from './style.js';
import { encodeNetwork, gridOf, outputOf, vgg, type NetworkSpec } from './vgg.js';

export type EvaluationSpec = NetworkSpec &
  Tuning & {
    /** With the temporal cost of a video frame (see temporalCost): its weight, target and weights are inputs. */
    temporal?: boolean;
  };

/** Names of the evaluation graph's inputs and outputs. */
export const EVALUATION_IO = {
  image: 'image',
  alpha: 'alpha',
  beta: 'beta',
  variation: 'variation_weight',
  styleLayerWeights: 'style_layer_weights',
  styleTarget: (i: number) => `style_target_${i}`,
  /** Per style layer entry its weight map [h_l, w_l], where the spec has styleMaps. */
  styleMap: (i: number) => `style_map_${i}`,
  contentTarget: (i: number) => `content_target_${i}`,
  temporalWeight: 'temporal_weight',
  /** The previous stylised frame warped onto this one, [1, h, w, 3]. */
  temporalTarget: 'temporal_target',
  /** Per pixel whether the warp can be trusted, [1, h, w, 1]. */
  temporalWeights: 'temporal_weights',
  total: 'J',
  content: 'J_content',
  style: 'J_style',
  variationCost: 'J_var',
  temporalCost: 'J_temporal',
  gradient: 'gradient',
} as const;

/** J_style = Σ_l w_l·(layer l's style loss), with the layers' weights w an input. */
function styleCost(g: GraphBuilder, spec: NetworkSpec, steps: ReturnType<typeof vgg>, layerWeights: string): string {
  const io = EVALUATION_IO;
  const loss = styleLossOf(spec);
  const costs = spec.styleLayers.map((layer, i) => {
    const { value, channels: c } = outputOf(steps, layer);
    const flat = flatten(g, value, c);
    const rows = loss.rows(c);
    const target = g.op('Reshape', [g.input(io.styleTarget(i), [1, rows, c]), g.int64s([rows, c])]);
    const map = spec.styleMaps ? g.input(io.styleMap(i), gridOf(g, spec, layer)) : undefined;
    const cost =
      loss.direct && !map
        ? loss.direct(g, flat, target, c)
        : loss.cost(g, meansOf(g, loss.sums(g, flat, c, map), positionsOf(g, flat, c)), target, c);
    const weight = g.op('Gather', [layerWeights, g.int64s([i], [])], { axis: int(0) }, 'layer_weight');
    return g.op('Mul', [cost, toDouble(g, weight)], {}, 'weighted_style');
  });
  return g.op('Sum', costs, {}, 'style_cost');
}

/** J_content: the mean over the content layers of mean((F − P)²). */
function contentCosts(g: GraphBuilder, spec: NetworkSpec, steps: ReturnType<typeof vgg>): string {
  const costs = spec.contentLayers.map((layer, i) => {
    const { value, channels } = outputOf(steps, layer);
    const target = g.input(EVALUATION_IO.contentTarget(i), [1, channels, g.fresh('h'), g.fresh('w')]);
    return contentCost(g, value, target);
  });
  return g.op('Div', [g.op('Sum', costs), g.scalar64(spec.contentLayers.length)], {}, 'content_cost');
}

/** J_temporal at the image, with its target and per-pixel weights as inputs. */
function temporalTerm(g: GraphBuilder, spec: EvaluationSpec, image: string): string {
  const target = g.input(EVALUATION_IO.temporalTarget, [1, spec.height, spec.width, 3]);
  const weights = g.input(EVALUATION_IO.temporalWeights, [1, spec.height, spec.width, 1]);
  return temporalCost(g, image, target, weights);
}

/**
 * The evaluation graph. Inputs: the image [1, h, w, 3] in [0, 1]; α, β, the variation weight
 * (scalars); the style layer weights [number of style layers] (normalised by the caller); per style
 * layer its prepared target [1, rows, c] (the Gram matrix for 'gram', see style.ts) and, with
 * styleMaps, its weight map [h_l, w_l]; per content layer its target features NCHW [1, c, h, w].
 * With `temporal`, also the temporal weight (scalar), target and weights (temporalTerm).
 * Outputs: J, J_content, J_style, J_var (and J_temporal) (scalars) and the gradient [1, h, w, 3].
 */
export function buildEvaluationModel(spec: EvaluationSpec): Uint8Array {
  const io = EVALUATION_IO;
  const g = new GraphBuilder('nst_evaluation');
  const image = g.input(io.image, [1, spec.height, spec.width, 3]);
  const [alpha, beta, variation] = [io.alpha, io.beta, io.variation].map((name) => g.input(name, []));
  const layerWeights = g.input(io.styleLayerWeights, [spec.styleLayers.length]);
  const steps = vgg(g, image, spec);

  const jStyle = styleCost(g, spec, steps, layerWeights);
  const jContent = contentCosts(g, spec, steps);
  const jVariation = variationCost(g, image);
  const weighted = (cost: string, weight: string) => g.op('Mul', [cost, toDouble(g, weight)]);
  const terms = [weighted(jContent, alpha!), weighted(jStyle, beta!), weighted(jVariation, variation!)];
  const jTemporal = spec.temporal ? temporalTerm(g, spec, image) : null;
  if (jTemporal) terms.push(weighted(jTemporal, g.input(io.temporalWeight, [])));
  const total = g.op('Sum', terms, {}, 'total_cost');
  const [gradient] = differentiate(g, [{ value: total, gradient: g.scalar64(1) }], [image], spec);

  g.output(io.total, toFloat(g, total), []);
  g.output(io.content, toFloat(g, jContent), []);
  g.output(io.style, toFloat(g, jStyle), []);
  g.output(io.variationCost, toFloat(g, jVariation), []);
  if (jTemporal) g.output(io.temporalCost, toFloat(g, jTemporal), []);
  g.output(io.gradient, gradient!, [1, spec.height, spec.width, 3]);
  return encodeNetwork(g, spec);
}
