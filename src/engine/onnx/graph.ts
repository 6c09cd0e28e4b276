/**
 * The ONNX graphs of neural style transfer, written op by op from VGG19's weights:
 * - the evaluation graph: image → J, J_content, J_style, J_var and dJ/dimage. ONNX Runtime does
 *   not differentiate, so the backward pass is spelled out as ordinary forward ops;
 * - the features graph: image → Gram matrices at the style layers and activations at the content
 *   layers (the targets).
 * The tiled evaluation's graphs (tile-graph.ts) are built from the same pieces, exported here.
 * Data flows in NCHW inside (what ONNX's Conv takes); the image and the outputs are NHWC.
 */
import { GraphBuilder, int, ints, string, type Dim } from '../graph/builder.js';
import { layersUpTo, modelOutputs, type Pooling, type Vgg19Layer as VggLayer } from '../vgg19.js';
import { backwardKernel, type OnnxConv } from './layout.js';

/** Keras' ImageNet channel means, B, G, R. */
const VGG_MEANS_BGR = [103.939, 116.779, 123.68];
/** An end past any dimension, for Slice. */
const TO_END = Number.MAX_SAFE_INTEGER;
const FLOAT_TYPE = 1;
const DOUBLE_TYPE = 11;

/**
 * How the input gradient of a convolution is computed: 'conv', a Conv with the kernel flipped in
 * space and its channels swapped (a second copy of the weights), or 'convTranspose' of the forward
 * kernel (one copy, but ONNX Runtime's ConvTranspose has no blocked-layout kernel).
 */
export type BackwardConv = 'conv' | 'convTranspose';
/** How the ReLU mask is applied: Where(y > 0, g, 0), or g · Sign(y) (y ≥ 0, so Sign(y) is the mask). */
export type ReluMask = 'where' | 'sign';

export interface NetworkSpec {
  /** Fixed sizes, or names for sizes given at run time. */
  height: Dim;
  width: Dim;
  styleLayers: readonly string[];
  contentLayers: readonly string[];
  pooling: Pooling;
  /** The convolutions of `layersUpTo(styleLayers ∪ contentLayers)`, in order (see readOnnxConvs). */
  convs: readonly OnnxConv[];
}

export interface EvaluationSpec extends NetworkSpec {
  backwardConv?: BackwardConv;
  reluMask?: ReluMask;
}

/** Names of the evaluation graph's inputs and outputs. */
export const EVALUATION_IO = {
  image: 'image',
  alpha: 'alpha',
  beta: 'beta',
  variation: 'variation_weight',
  styleLayerWeights: 'style_layer_weights',
  styleTarget: (i: number) => `style_target_${i}`,
  contentTarget: (i: number) => `content_target_${i}`,
  total: 'J',
  content: 'J_content',
  style: 'J_style',
  variationCost: 'J_var',
  gradient: 'gradient',
} as const;

/** Names of the features graph's outputs. */
export const FEATURES_IO = {
  image: 'image',
  gram: (layer: string) => `gram_${layer}`,
  features: (layer: string) => `features_${layer}`,
} as const;

/** One layer as run: its input and output values (and MaxPool's argmax indices). */
export interface Step {
  layer: VggLayer;
  input: string;
  output: string;
  /** A convolution's kernel constant. */
  kernel?: string;
  indices?: string;
}

const channelsOf = (layer: VggLayer & { kind: 'conv' }) => layer.spec.shape[3];

/** Keras' vgg19.preprocess_input on NHWC [0, 1] RGB: NCHW, ×255, BGR, minus the means. */
export function preprocess(g: GraphBuilder, image: string): string {
  const nchw = g.op('Transpose', [image], { perm: ints([0, 3, 1, 2]) }, 'image_nchw');
  const scaled = g.op('Mul', [nchw, g.scalar(255)], {}, 'image_255');
  const bgr = g.op('Gather', [scaled, g.int64s([2, 1, 0])], { axis: int(1) }, 'image_bgr');
  return g.op('Sub', [bgr, g.floats(VGG_MEANS_BGR, [1, 3, 1, 1], 'vgg_means')], {}, 'preprocessed');
}

/** The network's layers from the preprocessed input; max poolings also give their argmax when asked. */
export function forward(
  g: GraphBuilder,
  input: string,
  layers: readonly VggLayer[],
  convs: readonly OnnxConv[],
  pooling: Pooling,
  withIndices: boolean,
): Step[] {
  const byName = new Map(convs.map((c) => [c.name, c]));
  const steps: Step[] = [];
  let x = input;
  for (const layer of layers) {
    if (layer.kind === 'conv') {
      const w = byName.get(layer.name);
      if (!w) throw new Error(`no weights for ${layer.name}`);
      const kernel = g.floats(w.kernel, [w.outChannels, w.inChannels, 3, 3], `${layer.name}_kernel`);
      const bias = g.floats(w.bias, [w.outChannels], `${layer.name}_bias`);
      const z = g.op(
        'Conv',
        [x, kernel, bias],
        { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
        `${layer.name}_z`,
      );
      steps.push({ layer, input: x, kernel, output: (x = g.op('Relu', [z], {}, layer.name)) });
    } else {
      const attributes = { kernel_shape: ints([2, 2]), strides: ints([2, 2]) };
      if (pooling === 'avg') {
        steps.push({ layer, input: x, output: (x = g.op('AveragePool', [x], attributes, layer.name)) });
      } else {
        const [y, indices] = g.opN('MaxPool', [x], withIndices ? 2 : 1, attributes, layer.name);
        steps.push({ layer, input: x, output: (x = y!), indices });
      }
    }
  }
  return steps;
}

/** A float scalar of a tensor's element count. */
const sizeOf = (g: GraphBuilder, x: string) => g.op('Cast', [g.op('Size', [x])], { to: int(FLOAT_TYPE) }, 'size');

/** F [1, c, h, w] → [c, h·w], the Gram matrix's operand. */
export const flatten = (g: GraphBuilder, f: string, c: number) => g.op('Reshape', [f, g.int64s([c, -1])], {}, 'flat');

/** Gram matrix F Fᵀ / (h·w) of F [c, h·w], and h·w as a float scalar. */
function gram(g: GraphBuilder, flat: string, c: number): { gram: string; hw: string } {
  const hw = g.op('Div', [sizeOf(g, flat), g.scalar(c)], {}, 'hw');
  const product = g.op('MatMul', [flat, g.op('Transpose', [flat], { perm: ints([1, 0]) })], {}, 'ffT');
  return { gram: g.op('Div', [product, hw], {}, 'gram'), hw };
}

/** Costs are added up in float64: a float32 sum of 512² terms is off by ~1e-5 (TensorFlow.js's by ~1e-4). */
export const toDouble = (g: GraphBuilder, x: string) => g.op('Cast', [x], { to: int(DOUBLE_TYPE) }, 'double');
export const toFloat = (g: GraphBuilder, x: string) => g.op('Cast', [x], { to: int(FLOAT_TYPE) }, 'float');

/** A float64 scalar: the mean of x² (x float32). */
function meanSquare(g: GraphBuilder, x: string): string {
  const d = toDouble(g, x);
  return g.op('ReduceMean', [g.op('Mul', [d, d])], { keepdims: int(0) }, 'mean_square');
}

/**
 * One style layer: its cost mean((G − A)²) and the gradient of `weight` × that cost w.r.t. F:
 * with dG = 2(G − A)/c², dF = (dG + dGᵀ) F / (h·w).
 */
function styleLayer(
  g: GraphBuilder,
  f: string,
  c: number,
  target: string,
  weight: string,
): { cost: string; gradient: string } {
  const flat = flatten(g, f, c);
  const { gram: G, hw } = gram(g, flat, c);
  const diff = g.op('Sub', [G, g.op('Reshape', [target, g.int64s([c, c])])], {}, 'gram_diff');
  const cost = meanSquare(g, diff);
  // The scale goes on the c×c matrix, not the larger c×hw product.
  const scale = g.op('Div', [g.op('Mul', [weight, g.scalar(2 / (c * c))]), hw], {}, 'style_scale');
  const symmetric = g.op('Add', [diff, g.op('Transpose', [diff], { perm: ints([1, 0]) })], {}, 'gram_diff_sym');
  const dFlat = g.op('MatMul', [g.op('Mul', [symmetric, scale]), flat], {}, 'd_flat');
  return { cost, gradient: g.op('Reshape', [dFlat, g.op('Shape', [f])], {}, 'd_style') };
}

/** One content layer: mean((F − P)²), and the gradient of `weight` × that: 2·weight·(F − P)/N. */
function contentLayer(g: GraphBuilder, f: string, target: string, weight: string): { cost: string; gradient: string } {
  const diff = g.op('Sub', [f, target], {}, 'content_diff');
  const scale = g.op('Div', [g.op('Mul', [weight, g.scalar(2)]), sizeOf(g, f)], {}, 'content_scale');
  return { cost: meanSquare(g, diff), gradient: g.op('Mul', [diff, scale], {}, 'd_content') };
}

/** Pads of rank-4 tensors (begins then ends) as an int64 constant. */
const pads4 = (g: GraphBuilder, begin: number[], end: number[]) => g.int64s([...begin, ...end]);

/**
 * Total variation of the NHWC image (tf.image.total_variation) and its gradient: for each axis,
 * d = x[i+1] − x[i], cost Σ|d|, and the gradient at x[i] is sign(d[i−1]) − sign(d[i]) (sign(0) = 0,
 * as TensorFlow's gradient of abs).
 */
function totalVariation(g: GraphBuilder, image: string): { cost: string; gradient: string } {
  const costs: string[] = [];
  const gradients: string[] = [];
  for (const axis of [1, 2]) {
    const slice = (start: number, end: number) =>
      g.op('Slice', [image, g.int64s([start]), g.int64s([end]), g.int64s([axis])], {}, 'tv_slice');
    const d = g.op('Sub', [slice(1, TO_END), slice(0, -1)], {}, 'tv_diff');
    costs.push(g.op('ReduceSum', [toDouble(g, g.op('Abs', [d]))], { keepdims: int(0) }, 'tv_sum'));
    const s = g.op('Sign', [d], {}, 'tv_sign');
    const one = [0, 0, 0, 0];
    one[axis] = 1;
    const before = g.op('Pad', [s, pads4(g, one, [0, 0, 0, 0])], {}, 'tv_before');
    const after = g.op('Pad', [s, pads4(g, [0, 0, 0, 0], one)], {}, 'tv_after');
    gradients.push(g.op('Sub', [before, after], {}, 'tv_grad'));
  }
  return { cost: g.op('Add', costs, {}, 'tv'), gradient: g.op('Add', gradients, {}, 'd_tv') };
}

/** The gradient w.r.t. a conv + ReLU layer's input from the gradient w.r.t. its output. */
function convBackward(g: GraphBuilder, step: Step, conv: OnnxConv, dy: string, spec: EvaluationSpec): string {
  const name = step.layer.name;
  const masked =
    spec.reluMask === 'sign'
      ? g.op('Mul', [dy, g.op('Sign', [step.output])], {}, `${name}_dz`)
      : g.op('Where', [g.op('Greater', [step.output, g.scalar(0)]), dy, g.scalar(0)], {}, `${name}_dz`);
  const attributes = { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) };
  if (spec.backwardConv === 'convTranspose') {
    return g.op('ConvTranspose', [masked, step.kernel!], attributes, `${name}_dx`);
  }
  const kernel = g.floats(
    backwardKernel(conv.kernel, conv.outChannels, conv.inChannels),
    [conv.inChannels, conv.outChannels, 3, 3],
    `${name}_kernel_back`,
  );
  return g.op('Conv', [masked, kernel], attributes, `${name}_dx`);
}

/**
 * 2×2 average pooling's input gradient: each value spread over its window (nearest upsampling ×2,
 * times ¼), and zero on an odd last row or column, which the pooling dropped.
 */
function avgPoolBackward(g: GraphBuilder, step: Step, dy: string): string {
  const name = step.layer.name;
  const spread = g.op(
    'Resize',
    [dy, '', g.floats([1, 1, 2, 2], [4], 'scales_2x')],
    {
      mode: string('nearest'),
      coordinate_transformation_mode: string('asymmetric'),
      nearest_mode: string('floor'),
    },
    `${name}_spread`,
  );
  const quarter = g.op('Mul', [spread, g.scalar(0.25)], {}, `${name}_quarter`);
  // [0, 0, h − 2·ph, w − 2·pw] from the shapes, so that it also holds for sizes given at run time.
  const doubled = g.op('Mul', [g.op('Shape', [step.output]), g.int64s([1, 1, 2, 2])], {}, 'doubled_shape');
  const rest = g.op('Sub', [g.op('Shape', [step.input]), doubled], {}, 'dropped');
  const pads = g.op('Concat', [g.int64s([0, 0, 0, 0]), rest], { axis: int(0) }, 'pool_pads');
  return g.op('Pad', [quarter, pads], {}, `${name}_dx`);
}

/**
 * 2×2 max pooling's input gradient: each window's gradient goes to the input MaxPool's Indices
 * output names (its first maximum in row-major order), scattered into zeros of the input's size.
 * The windows do not overlap, so no position is written twice; dropped rows and columns stay zero.
 */
function maxPoolBackward(g: GraphBuilder, step: Step, dy: string): string {
  const name = step.layer.name;
  const flatShape = g.int64s([-1]);
  const count = g.op('Reshape', [g.op('Size', [step.input]), g.int64s([1])], {}, 'count');
  const zeros = g.op(
    'ConstantOfShape',
    [count],
    { value: { tensor: { dims: [1], dataType: FLOAT_TYPE, floatData: [0] } } },
    'zeros',
  );
  const indices = g.op('Reshape', [step.indices!, flatShape], {}, `${name}_argmax`);
  const scattered = g.op(
    'ScatterElements',
    [zeros, indices, g.op('Reshape', [dy, flatShape])],
    { axis: int(0) },
    `${name}_scatter`,
  );
  return g.op('Reshape', [scattered, g.op('Shape', [step.input])], {}, `${name}_dx`);
}

/** Back through the layers, adding each layer's own cost gradients on the way; dJ/d(preprocessed input). */
export function backward(
  g: GraphBuilder,
  steps: readonly Step[],
  direct: ReadonlyMap<string, string[]>,
  spec: EvaluationSpec,
): string {
  const convs = new Map(spec.convs.map((c) => [c.name, c]));
  let dy: string | null = null;
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]!;
    const parts: string[] = [...(dy ? [dy] : []), ...(direct.get(step.layer.name) ?? [])];
    if (parts.length === 0) throw new Error(`no gradient reaches ${step.layer.name}`);
    const total: string = parts.length === 1 ? parts[0]! : g.op('Sum', parts, {}, `${step.layer.name}_dy`);
    if (step.layer.kind === 'conv') dy = convBackward(g, step, convs.get(step.layer.name)!, total, spec);
    else dy = spec.pooling === 'avg' ? avgPoolBackward(g, step, total) : maxPoolBackward(g, step, total);
  }
  return dy!;
}

/** Back through the preprocessing: dJ/d(preprocessed input) NCHW → dJ/dimage NHWC (×255, BGR back to RGB). */
export function throughPreprocess(g: GraphBuilder, dPre: string): string {
  const dRgb = g.op('Mul', [g.op('Gather', [dPre, g.int64s([2, 1, 0])], { axis: int(1) }), g.scalar(255)], {}, 'd_rgb');
  return g.op('Transpose', [dRgb], { perm: ints([0, 2, 3, 1]) }, 'd_network');
}

/** The value of `layer` among the steps. */
export function outputOf(steps: readonly Step[], layer: string): { value: string; channels: number } {
  const step = steps.find((s) => s.layer.name === layer);
  if (!step || step.layer.kind !== 'conv') throw new Error(`layer ${layer} is not in the network`);
  return { value: step.output, channels: channelsOf(step.layer) };
}

/** The layers of a spec, checked against its weights. */
export function specLayers(spec: NetworkSpec): VggLayer[] {
  if (spec.styleLayers.length === 0 || spec.contentLayers.length === 0)
    throw new RangeError('at least one style and one content layer are needed');
  return layersUpTo(modelOutputs(spec.styleLayers, spec.contentLayers).at(-1)!);
}

/**
 * The evaluation graph. Inputs: the image [1, h, w, 3] in [0, 1]; α, β, the variation weight
 * (scalars); the style layer weights [number of style layers] (normalised by the caller); per style
 * layer its target Gram matrix [1, c, c]; per content layer its target features NCHW [1, c, h, w].
 * Outputs: J, J_content, J_style, J_var (scalars) and the gradient [1, h, w, 3].
 */
export function buildEvaluationModel(spec: EvaluationSpec): Uint8Array {
  const io = EVALUATION_IO;
  const g = new GraphBuilder('nst_evaluation');
  const image = g.input(io.image, [1, spec.height, spec.width, 3]);
  const [alpha, beta, variation] = [io.alpha, io.beta, io.variation].map((name) => g.input(name, []));
  const layerWeights = g.input(io.styleLayerWeights, [spec.styleLayers.length]);
  const steps = forward(g, preprocess(g, image), specLayers(spec), spec.convs, spec.pooling, true);
  const direct = new Map<string, string[]>();
  const addDirect = (layer: string, gradient: string) => direct.set(layer, [...(direct.get(layer) ?? []), gradient]);

  const styleCosts = spec.styleLayers.map((layer, i) => {
    const { value, channels } = outputOf(steps, layer);
    const target = g.input(io.styleTarget(i), [1, channels, channels]);
    const weight = g.op('Gather', [layerWeights, g.int64s([i], [])], { axis: int(0) }, 'layer_weight');
    const { cost, gradient } = styleLayer(g, value, channels, target, g.op('Mul', [beta!, weight], {}, 'style_weight'));
    addDirect(layer, gradient);
    return g.op('Mul', [cost, toDouble(g, weight)], {}, 'weighted_style');
  });
  const contentWeight = g.op('Div', [alpha!, g.scalar(spec.contentLayers.length)], {}, 'content_weight');
  const contentCosts = spec.contentLayers.map((layer, i) => {
    const { value, channels } = outputOf(steps, layer);
    const target = g.input(io.contentTarget(i), [1, channels, g.fresh('h'), g.fresh('w')]);
    const { cost, gradient } = contentLayer(g, value, target, contentWeight);
    addDirect(layer, gradient);
    return cost;
  });

  const jStyle = g.op('Sum', styleCosts, {}, 'style_cost');
  const jContent = g.op('Div', [g.op('Sum', contentCosts), g.scalar64(spec.contentLayers.length)], {}, 'content_cost');
  const tv = totalVariation(g, image);
  const weighted = (cost: string, weight: string) => g.op('Mul', [cost, toDouble(g, weight)]);
  const terms = [weighted(jContent, alpha!), weighted(jStyle, beta!), weighted(tv.cost, variation!)];
  const total = g.op('Sum', terms, {}, 'total_cost');

  const dNetwork = throughPreprocess(g, backward(g, steps, direct, spec));
  const gradient = g.op('Add', [dNetwork, g.op('Mul', [tv.gradient, variation!], {}, 'd_tv_weighted')], {}, 'd_image');

  g.output(io.total, toFloat(g, total), []);
  g.output(io.content, toFloat(g, jContent), []);
  g.output(io.style, toFloat(g, jStyle), []);
  g.output(io.variationCost, toFloat(g, tv.cost), []);
  g.output(io.gradient, gradient, [1, spec.height, spec.width, 3]);
  return g.encode();
}

/**
 * The features graph: the image [1, h, w, 3] in [0, 1] → per style layer its Gram matrix [1, c, c],
 * per content layer its activations NHWC [1, h', w', c].
 */
export function buildFeaturesModel(spec: NetworkSpec): Uint8Array {
  const g = new GraphBuilder('nst_features');
  const image = g.input(FEATURES_IO.image, [1, spec.height, spec.width, 3]);
  const steps = forward(g, preprocess(g, image), specLayers(spec), spec.convs, spec.pooling, false);
  for (const layer of spec.styleLayers) {
    const { value, channels } = outputOf(steps, layer);
    const G = gram(g, flatten(g, value, channels), channels).gram;
    g.output(FEATURES_IO.gram(layer), g.op('Reshape', [G, g.int64s([1, channels, channels])]), [1, channels, channels]);
  }
  for (const layer of spec.contentLayers) {
    const { value, channels } = outputOf(steps, layer);
    const nhwc = g.op('Transpose', [value], { perm: ints([0, 2, 3, 1]) });
    g.output(FEATURES_IO.features(layer), nhwc, [1, g.fresh('h'), g.fresh('w'), channels]);
  }
  return g.encode();
}
