/**
 * VGG19's weights in the layout ONNX wants: kernels moved from Keras' HWIO to ONNX's OIHW.
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
