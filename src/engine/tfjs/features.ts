import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { readConvWeights } from '../../io/weights.js';
import { layersUpTo, VGG19_CONV_NAMES, type Pooling, type Vgg19Layer } from '../vgg19.js';

export type { Pooling };
type Layer = Vgg19Layer;

/**
 * How gradients flow back through the network. 'fast' (the default) writes the backward pass of
 * conv + ReLU and of average pooling out by hand, because the stock input gradient of a
 * convolution is several times slower than the forward convolution on the wasm backend:
 * - the input gradient of a stride-1 'same' 3×3 convolution is a forward convolution of the
 *   upstream gradient with the kernel flipped in space and with in/out channels swapped;
 * - the ReLU lets the gradient through where its output is positive;
 * - 2×2 average pooling spreads each gradient value evenly over its four inputs.
 * 'stock' uses TensorFlow.js's own gradients (the reference the fast ones are tested against).
 */
export type Gradients = 'fast' | 'stock';

interface LoadedConv {
  name: string;
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
  /** The kernel flipped in space with in/out channels swapped: its input gradient's kernel. */
  backwardKernel: tf.Tensor4D;
  /** conv + bias + ReLU with the hand-written gradient. */
  fast: (x: tf.Tensor4D) => tf.Tensor4D;
}

/**
 * Frees the gradient of a layer's output once the layer's own gradient has used it. Back-propagation
 * in TensorFlow.js keeps every intermediate gradient until the whole pass ends; in this chain each
 * one has a single consumer (the layer that made the output), so holding it only costs memory.
 */
function release(dy: tf.Tensor, dx: tf.Tensor): tf.Tensor {
  dy.dispose();
  return dx;
}

function convRelu(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: kernel, bias, strides: 1, pad: 'same', activation: 'relu' });
}

/**
 * conv + bias + ReLU as one fused kernel. tf.fused.conv2d falls back to three separate ops (and
 * three outputs kept to the end of the pass) whenever a gradient is being recorded, even inside a
 * custom gradient that never needs them; the kernel itself is the same one it runs otherwise.
 */
function fusedConvRelu(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'relu', leakyreluAlpha: 0.2 };
  return tf.engine().runKernel('FusedConv2D', { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

function loadConv(
  name: string,
  kernelValues: Float32Array,
  shape: [number, number, number, number],
  biasValues: Float32Array,
): LoadedConv {
  const kernel = tf.tensor4d(kernelValues, shape);
  const bias = tf.tensor1d(biasValues);
  const backwardKernel = tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]));
  // The weights are frozen: only the gradient with respect to x is needed.
  const fast = tf.customGrad((x, save) => {
    const y = fusedConvRelu(x as tf.Tensor4D, kernel, bias);
    (save as tf.GradSaveFunc)([y]);
    return {
      value: y,
      // tidy: the mask and masked gradient are freed at once, not at the end of the whole pass.
      gradFunc: (dy, [output]) =>
        release(
          dy,
          tf.tidy(() => tf.conv2d(tf.mul(dy, tf.step(output!)) as tf.Tensor4D, backwardKernel, 1, 'same')),
        ),
    };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
  return { name, kernel, bias, backwardKernel, fast };
}

/** 2×2 average pooling, stride 2, valid, with the hand-written gradient. */
const avgPoolFast = tf.customGrad((x) => {
  const [, h, w] = (x as tf.Tensor4D).shape;
  return {
    value: tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'),
    gradFunc: (dy) =>
      release(
        dy,
        tf.tidy(() => {
          const [, ph, pw] = dy.shape;
          // Nearest-neighbour upsampling by exactly 2 copies each value to its 2×2 block.
          const spread = tf.image.resizeNearestNeighbor(dy as tf.Tensor4D, [2 * ph, 2 * pw]);
          // An odd last row or column is dropped by the pooling: its gradient is zero.
          return tf.pad(tf.mul(spread, 0.25), [
            [0, 0],
            [0, h - 2 * ph],
            [0, w - 2 * pw],
            [0, 0],
          ]);
        }),
      ),
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

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
    readonly gradients: Gradients,
  ) {}

  /** Reads the weights of the layers needed for `outputs` from a Keras-layout HDF5 file. */
  static async load(
    weightsPath: string,
    outputs: readonly string[],
    pooling: Pooling = 'avg',
    gradients: Gradients = 'fast',
  ): Promise<FeatureModel> {
    for (const name of outputs) {
      if (!VGG19_CONV_NAMES.includes(name)) {
        throw new RangeError(`unknown VGG19 layer ${name}: expected one of ${VGG19_CONV_NAMES.join(', ')}`);
      }
    }
    if (outputs.length === 0) throw new RangeError('at least one output layer is needed');
    const layers = layersUpTo(VGG19_CONV_NAMES.filter((name) => outputs.includes(name)).at(-1)!);
    const specs = layers.flatMap((l) => (l.kind === 'conv' ? [l.spec] : []));
    const weights = await readConvWeights(weightsPath, specs);
    const convs = new Map<string, LoadedConv>();
    for (const w of weights) convs.set(w.name, loadConv(w.name, w.kernel, w.kernelShape, w.bias));
    return new FeatureModel([...outputs], pooling, layers, convs, gradients);
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
      throw new InputError(
        `an image of ${w}×${h} px is too small: the features need at least ${this.minSide} px on each side (increase the size)`,
        { setting: 'size' },
      );
    }
    const found = new Map<string, tf.Tensor4D>();
    let x = input;
    for (const layer of this.layers) {
      const fast = this.gradients === 'fast';
      if (layer.kind === 'conv') {
        const conv = this.convs.get(layer.name)!;
        x = fast ? conv.fast(x) : convRelu(x, conv.kernel, conv.bias);
      } else if (this.pooling === 'avg') {
        x = fast ? avgPoolFast(x) : tf.avgPool(x, 2, 2, 'valid');
      } else {
        x = tf.maxPool(x, 2, 2, 'valid');
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
  summary(print: (line: string) => void): void {
    const rows: [string, string, string][] = [['input_1 (InputLayer)', '(None, None, None, 3)', '0']];
    let channels = 3;
    for (const layer of this.layers) {
      if (layer.kind === 'conv') {
        const conv = this.convs.get(layer.name)!;
        channels = layer.spec.shape[3];
        rows.push([
          `${layer.name} (Conv2D)`,
          `(None, None, None, ${channels})`,
          String(conv.kernel.size + conv.bias.size),
        ]);
      } else {
        const type = this.pooling === 'avg' ? 'AveragePooling2D' : 'MaxPooling2D';
        rows.push([`${layer.name} (${type})`, `(None, None, None, ${channels})`, '0']);
      }
    }
    const widths = [32, 28, 12];
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join(' ')
        .trimEnd();
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
    for (const conv of this.convs.values()) tf.dispose([conv.kernel, conv.bias, conv.backwardKernel]);
  }
}
