/**
 * VGG19's convolutional part, once: every layer in order with its kernel shape. The weights
 * reader, the models of every engine and the memory estimates walk this table.
 */
import type { ConvSpec } from '../io/weights.js';

/** Pooling between VGG19's blocks: 'avg' (Gatys et al.'s choice) or 'max' (the network's own). */
export type Pooling = 'avg' | 'max';
export const POOLINGS: readonly Pooling[] = ['avg', 'max'];

export type Vgg19Layer = { kind: 'conv'; name: string; spec: ConvSpec } | { kind: 'pool'; name: string };

// [block, number of convs, output channels].
const BLOCKS: readonly [number, number, number][] = [
  [1, 2, 64],
  [2, 2, 128],
  [3, 4, 256],
  [4, 4, 512],
  [5, 4, 512],
];

/** block1_conv1 … block5_conv4, each block followed by its 2×2 pooling block{b}_pool. */
export const VGG19_LAYERS: readonly Vgg19Layer[] = (() => {
  const layers: Vgg19Layer[] = [];
  let inChannels = 3;
  for (const [block, convs, channels] of BLOCKS) {
    for (let i = 1; i <= convs; i++) {
      const spec: ConvSpec = { name: `block${block}_conv${i}`, shape: [3, 3, inChannels, channels] };
      Object.freeze(spec);
      layers.push(Object.freeze({ kind: 'conv', name: spec.name, spec }));
      inChannels = channels;
    }
    layers.push(Object.freeze({ kind: 'pool', name: `block${block}_pool` }));
  }
  return Object.freeze(layers);
})();

export const VGG19_CONV_SPECS: readonly ConvSpec[] = Object.freeze(
  VGG19_LAYERS.flatMap((l) => (l.kind === 'conv' ? [l.spec] : [])),
);

/** Names of every VGG19 convolution: the layers features can come from. */
export const VGG19_CONV_NAMES: readonly string[] = Object.freeze(VGG19_CONV_SPECS.map((s) => s.name));

/** The layers up to and including `deepest` (a conv layer name). */
export function layersUpTo(deepest: string): Vgg19Layer[] {
  const end = VGG19_LAYERS.findIndex((l) => l.name === deepest);
  if (end < 0 || VGG19_LAYERS[end]!.kind !== 'conv') throw new RangeError(`unknown VGG19 layer ${deepest}`);
  return VGG19_LAYERS.slice(0, end + 1);
}

/** The outputs a model needs for these layers: each layer once, in the network's order. */
export function modelOutputs(styleLayers: readonly string[], contentLayers: readonly string[]): string[] {
  return VGG19_CONV_NAMES.filter((name) => styleLayers.includes(name) || contentLayers.includes(name));
}

/** The 2×2 poolings before a conv layer. */
export const poolsBefore = (layer: string): number => layersUpTo(layer).filter((l) => l.kind === 'pool').length;

/** A conv layer's output channels. */
export const channelsOf = (layer: string): number => (layersUpTo(layer).at(-1) as { spec: ConvSpec }).spec.shape[3];

/** A conv layer's grid [h_l, w_l] over an image of h × w px: floor-halved at each pooling before it. */
export function layerGrid(layer: string, h: number, w: number): [number, number] {
  const scale = 2 ** poolsBefore(layer);
  return [Math.floor(h / scale), Math.floor(w / scale)];
}

/** The smallest image side that leaves at least one pixel at `deepest`: 2 to the number of poolings before it. */
export const minSide = (deepest: string): number => 2 ** poolsBefore(deepest);
