import * as tf from '@tensorflow/tfjs';
import { InputError } from './errors.js';
import { readConvWeights, type ConvSpec } from './weights.js';

/** Output channels of VGG19's convolutions, block by block (Simonyan & Zisserman, configuration E). */
const VGG19_BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256, 256],
  [512, 512, 512, 512],
  [512, 512, 512, 512],
];

export type Pooling = 'avg' | 'max';

interface ConvLayer {
  kind: 'conv';
  name: string;
  spec: ConvSpec;
}
interface PoolLayer {
  kind: 'pool';
  name: string;
}
type Layer = ConvLayer | PoolLayer;

/** VGG19's convolutional part in order: block{b}_conv{i} followed by block{b}_pool. */
function vgg19Layers(): Layer[] {
  const layers: Layer[] = [];
  let inChannels = 3;
  VGG19_BLOCKS.forEach((block, b) => {
    block.forEach((outChannels, i) => {
      const name = `block${b + 1}_conv${i + 1}`;
      layers.push({ kind: 'conv', name, spec: { name, shape: [3, 3, inChannels, outChannels] } });
      inChannels = outChannels;
    });
    layers.push({ kind: 'pool', name: `block${b + 1}_pool` });
  });
  return layers;
}

/** Names of every VGG19 convolution, block1_conv1 … block5_conv4: the layers features can come from. */
export const VGG19_CONV_NAMES: readonly string[] = vgg19Layers()
  .filter((l) => l.kind === 'conv')
  .map((l) => l.name);

interface LoadedConv {
  name: string;
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
}

/**
 * VGG19 cut after the deepest requested layer, with frozen ImageNet weights. Input: an image already
 * passed through Keras' vgg19.preprocess_input (BGR, mean-subtracted, 0..255 scale). `apply` returns
 * the activations (after ReLU) of the requested layers in the requested order.
 */
export class FeatureModel {
  private constructor(
    readonly outputNames: readonly string[],
    readonly pooling: Pooling,
    private readonly layers: readonly Layer[],
    private readonly convs: ReadonlyMap<string, LoadedConv>,
  ) {}

  /** Reads the weights of the layers needed for `outputs` from a Keras-layout HDF5 file. */
  static async load(weightsPath: string, outputs: readonly string[], pooling: Pooling = 'avg'): Promise<FeatureModel> {
    const all = vgg19Layers();
    for (const name of outputs) {
      if (!VGG19_CONV_NAMES.includes(name)) {
        throw new RangeError(`unknown VGG19 layer ${name}: expected one of ${VGG19_CONV_NAMES.join(', ')}`);
      }
    }
    if (outputs.length === 0) throw new RangeError('at least one output layer is needed');
    const last = Math.max(...outputs.map((name) => all.findIndex((l) => l.name === name)));
    const layers = all.slice(0, last + 1);
    const specs = layers.filter((l): l is ConvLayer => l.kind === 'conv').map((l) => l.spec);
    const weights = await readConvWeights(weightsPath, specs);
    const convs = new Map<string, LoadedConv>();
    for (const w of weights) {
      convs.set(w.name, { name: w.name, kernel: tf.tensor4d(w.kernel, w.kernelShape), bias: tf.tensor1d(w.bias) });
    }
    return new FeatureModel([...outputs], pooling, layers, convs);
  }

  /** The smallest image side that still leaves at least one pixel at the deepest output. */
  get minSide(): number {
    return 2 ** this.layers.filter((l) => l.kind === 'pool').length;
  }

  /** Activations of the output layers for a preprocessed batch [n, h, w, 3]. */
  apply(input: tf.Tensor4D): tf.Tensor4D[] {
    const [, h, w] = input.shape;
    if (Math.min(h, w) < this.minSide) {
      // Below this, a pooling would produce an empty tensor (which crashes some backends).
      throw new InputError(`an image of ${w}×${h} px is too small: the features need at least ${this.minSide} px on each side (increase size)`);
    }
    const found = new Map<string, tf.Tensor4D>();
    let x = input;
    for (const layer of this.layers) {
      if (layer.kind === 'conv') {
        const { kernel, bias } = this.convs.get(layer.name)!;
        x = tf.fused.conv2d({ x, filter: kernel, bias, strides: 1, pad: 'same', activation: 'relu' });
      } else {
        x = this.pooling === 'avg' ? tf.avgPool(x, 2, 2, 'valid') : tf.maxPool(x, 2, 2, 'valid');
      }
      if (this.outputNames.includes(layer.name)) found.set(layer.name, x);
    }
    return this.outputNames.map((name) => found.get(name)!);
  }

  /** Number of (frozen) parameters: kernels and biases of the convolutions kept. */
  countParams(): number {
    let n = 0;
    for (const { kernel, bias } of this.convs.values()) n += kernel.size + bias.size;
    return n;
  }

  /** A Keras-like table of the layers, output channels and parameter counts. */
  summary(print: (line: string) => void = console.log): void {
    const rows: [string, string, string][] = [['input_1 (InputLayer)', '(None, None, None, 3)', '0']];
    let channels = 3;
    for (const layer of this.layers) {
      if (layer.kind === 'conv') {
        const conv = this.convs.get(layer.name)!;
        channels = layer.spec.shape[3];
        rows.push([`${layer.name} (Conv2D)`, `(None, None, None, ${channels})`, String(conv.kernel.size + conv.bias.size)]);
      } else {
        const type = this.pooling === 'avg' ? 'AveragePooling2D' : 'MaxPooling2D';
        rows.push([`${layer.name} (${type})`, `(None, None, None, ${channels})`, '0']);
      }
    }
    const widths = [32, 28, 12];
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' ').trimEnd();
    const total = this.countParams().toLocaleString('en-US');
    print('Model: "vgg19_features"');
    print('_'.repeat(74));
    print(line(['Layer (type)', 'Output Shape', 'Param #']));
    print('='.repeat(74));
    rows.forEach((row, i) => {
      print(line(row));
      print(i === rows.length - 1 ? '='.repeat(74) : '_'.repeat(74));
    });
    print(`Total params: ${total}`);
    print('Trainable params: 0');
    print(`Non-trainable params: ${total}`);
    print(`Outputs: ${this.outputNames.join(', ')}`);
  }

  dispose(): void {
    for (const { kernel, bias } of this.convs.values()) {
      kernel.dispose();
      bias.dispose();
    }
  }
}
