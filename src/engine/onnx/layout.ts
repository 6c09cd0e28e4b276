/**
 * VGG19's weights in the layout ONNX wants: kernels moved from Keras' HWIO to ONNX's OIHW, and the
 * flipped, channel-swapped kernels of the convolutions' input gradients.
 */
import { readConvWeights } from '../../io/weights.js';
import type { Vgg19Layer } from '../vgg19.js';

/** One convolution's weights in ONNX layout. */
export interface OnnxConv {
  name: string;
  inChannels: number;
  outChannels: number;
  /** [out, in, 3, 3] */
  kernel: Float32Array;
  bias: Float32Array;
}

/** HWIO [kh, kw, in, out] → OIHW [out, in, kh, kw]. */
export function hwioToOihw(kernel: Float32Array, [kh, kw, cin, cout]: readonly number[]): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh!; y++) {
    for (let x = 0; x < kw!; x++) {
      for (let i = 0; i < cin!; i++) {
        const from = ((y * kw! + x) * cin! + i) * cout!;
        for (let o = 0; o < cout!; o++) out[((o * cin! + i) * kh! + y) * kw! + x] = kernel[from + o]!;
      }
    }
  }
  return out;
}

/**
 * The kernel of a convolution's input gradient: OIHW [out, in, kh, kw] → [in, out, kh, kw] flipped
 * in space. A stride-1 'same' convolution's input gradient is the convolution of the upstream
 * gradient with this kernel.
 */
export function backwardKernel(oihw: Float32Array, cout: number, cin: number, k = 3): Float32Array {
  const out = new Float32Array(oihw.length);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++)
          out[((i * cout + o) * k + (k - 1 - y)) * k + (k - 1 - x)] = oihw[((o * cin + i) * k + y) * k + x]!;
      }
    }
  }
  return out;
}

/** Reads the convolutions among `layers` from the Keras .h5 file, in ONNX layout. */
export async function readOnnxConvs(weightsPath: string, layers: readonly Vgg19Layer[]): Promise<OnnxConv[]> {
  const specs = layers.flatMap((l) => (l.kind === 'conv' ? [l.spec] : []));
  const weights = await readConvWeights(weightsPath, specs);
  return weights.map((w) => ({
    name: w.name,
    inChannels: w.kernelShape[2],
    outChannels: w.kernelShape[3],
    kernel: hwioToOihw(w.kernel, w.kernelShape),
    bias: w.bias,
  }));
}
