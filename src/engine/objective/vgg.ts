/**
 * VGG19 as graph nodes: Keras' preprocessing and the network's layers up to the deepest one the
 * objective reads, from the weights in ONNX layout. Data flows in NCHW inside (what ONNX's Conv
 * takes); images come in NHWC.
 */
import { ints, type Dim, type GraphBuilder } from '../graph/builder.js';
import { convChoice, lowerConvolutions, type ConvLowering } from '../graph/convolutions.js';
import type { OnnxConv } from '../onnx/layout.js';
import type { StyleLossName } from './style.js';
import { layerGrid, layersUpTo, modelOutputs, type Pooling, type Vgg19Layer } from '../vgg19.js';

/** Keras' ImageNet channel means, B, G, R: what vgg19.preprocess_input subtracts. */
export const VGG_MEANS_BGR: readonly number[] = [103.939, 116.779, 123.68];

/** The network a graph runs: its size (fixed, or names for sizes given at run time) and layers. */
export interface NetworkSpec {
  height: Dim;
  width: Dim;
  styleLayers: readonly string[];
  contentLayers: readonly string[];
  pooling: Pooling;
  /** How style layers are compared (default 'gram'). */
  styleLoss?: StyleLossName;
  /** Each style layer entry weighs its positions by a weight map input (regions.ts). */
  styleMaps?: boolean;
  /** The convolutions of `layersUpTo(styleLayers ∪ contentLayers)`, in order (see readOnnxConvs). */
  convs: readonly OnnxConv[];
  /** How the 3×3 convolutions, forward and backward, are computed (default: ONNX's Conv). */
  convolution?: ConvLowering;
}

/** One layer as run: its output value. */
export interface Step {
  layer: Vgg19Layer;
  output: string;
}

/** Keras' vgg19.preprocess_input on NHWC [0, 1] RGB: NCHW, ×255, BGR, minus the means. */
export function preprocess(g: GraphBuilder, image: string): string {
  const nchw = g.op('Transpose', [image], { perm: ints([0, 3, 1, 2]) }, 'image_nchw');
  const scaled = g.op('Mul', [nchw, g.scalar(255)], {}, 'image_255');
  const bgr = g.op('Gather', [scaled, g.int64s([2, 1, 0])], { axis: { int: 1 } }, 'image_bgr');
  return g.op('Sub', [bgr, g.floats(VGG_MEANS_BGR, [1, 3, 1, 1], 'vgg_means')], {}, 'preprocessed');
}

/** The network's layers from the preprocessed input. */
export function network(
  g: GraphBuilder,
  input: string,
  layers: readonly Vgg19Layer[],
  convs: readonly OnnxConv[],
  pooling: Pooling,
): Step[] {
  const byName = new Map(convs.map((c) => [c.name, c]));
  const window = { kernel_shape: ints([2, 2]), strides: ints([2, 2]) };
  let x = input;
  return layers.map((layer) => {
    if (layer.kind === 'conv') {
      const w = byName.get(layer.name);
      if (!w) throw new Error(`no weights for ${layer.name}`);
      const kernel = g.floats(w.kernel, [w.outChannels, w.inChannels, 3, 3], `${layer.name}_kernel`);
      const bias = g.floats(w.bias, [w.outChannels], `${layer.name}_bias`);
      const same = { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) };
      x = g.op('Relu', [g.op('Conv', [x, kernel, bias], same, `${layer.name}_z`)], {}, layer.name);
    } else {
      x = g.op(pooling === 'avg' ? 'AveragePool' : 'MaxPool', [x], window, layer.name);
    }
    return { layer, output: x };
  });
}

/** The layers a spec runs, checked to have a style and a content layer. */
export function specLayers(spec: NetworkSpec): Vgg19Layer[] {
  if (spec.styleLayers.length === 0 || spec.contentLayers.length === 0)
    throw new RangeError('at least one style and one content layer are needed');
  return layersUpTo(modelOutputs(spec.styleLayers, spec.contentLayers).at(-1)!);
}

/** Preprocessing and the network on an NHWC image value. */
export const vgg = (g: GraphBuilder, image: string, spec: NetworkSpec) =>
  network(g, preprocess(g, image), specLayers(spec), spec.convs, spec.pooling);

/** A conv layer's grid for the spec's size, as named dimensions where the size is given at run time. */
export function gridOf(g: GraphBuilder, spec: NetworkSpec, layer: string): [Dim, Dim] {
  const { height, width } = spec;
  if (typeof height === 'number' && typeof width === 'number') return layerGrid(layer, height, width);
  return [g.fresh(`h_${layer}`), g.fresh(`w_${layer}`)];
}

/** A conv layer's activations among the steps, and its channels. */
export function outputOf(steps: readonly Step[], layer: string): { value: string; channels: number } {
  const step = steps.find((s) => s.layer.name === layer);
  if (!step || step.layer.kind !== 'conv') throw new Error(`layer ${layer} is not in the network`);
  return { value: step.output, channels: step.layer.spec.shape[3] };
}

/** The finished graph's model bytes, its convolutions lowered as the spec asks. */
export function encodeNetwork(
  g: GraphBuilder,
  spec: Pick<NetworkSpec, 'convolution' | 'height' | 'width'>,
): Uint8Array {
  const { height, width } = spec;
  const pixels = typeof height === 'number' && typeof width === 'number' ? height * width : undefined;
  lowerConvolutions(g, convChoice(spec.convolution ?? 'direct', pixels));
  return g.encode();
}
