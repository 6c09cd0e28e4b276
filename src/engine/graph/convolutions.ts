/**
 * How a graph's 3×3 convolutions are computed: ONNX's Conv (direct) or Winograd's F(2×2, 3×3) or
 * F(4×4, 3×3) (winograd.ts). The choice is made once the graph is written, gradients included:
 * the objective and its derived gradient write plain Conv nodes, and this pass lowers those it
 * is asked to, forward and backward alike.
 */
import type { GraphBuilder, Node } from './builder.js';
import { flippedKernel } from './rules.js';
import { kernelTransform, winogradConv, winogradConvFlipped, type TileSize } from './winograd.js';

export const CONV_METHODS = ['direct', 'winograd2', 'winograd4'] as const;
export type ConvMethod = (typeof CONV_METHODS)[number];

/** A convolution's method from its channels (out, in). */
export type ConvChoice = (outChannels: number, inChannels: number) => ConvMethod;

const TILES: Record<Exclude<ConvMethod, 'direct'>, TileSize> = { winograd2: 2, winograd4: 4 };

const intsOf = (node: Node, name: string) => (node.attributes[name] as { ints: readonly number[] } | undefined)?.ints;
const all = (values: readonly number[] | undefined, value: number) => (values ?? [value]).every((v) => v === value);

/** The kernel's [out, in] when the node is a 3×3 stride-1 convolution padded by 1 with a constant kernel. */
function sameConv3x3(g: GraphBuilder, node: Node): [number, number] | null {
  if (node.type !== 'Conv') return null;
  const kernel = g.constant(node.inputs[1]!);
  if (!kernel || kernel.dims.length !== 4 || kernel.dims[2] !== 3 || kernel.dims[3] !== 3) return null;
  const group = (node.attributes['group'] as { int: number } | undefined)?.int ?? 1;
  const pads = intsOf(node, 'pads');
  if (!pads || !all(pads, 1) || !all(intsOf(node, 'strides'), 1) || !all(intsOf(node, 'dilations'), 1) || group !== 1)
    return null;
  return [kernel.dims[0]!, kernel.dims[1]!];
}

/** A kernel transformed for Winograd, and the direct kernel it came from. */
interface Transformed {
  u: string;
  kernel: Float32Array | Float64Array | readonly number[];
  dims: readonly [number, number];
  method: ConvMethod;
  /** The kernel flipped and channel-swapped, computed when first compared. */
  flipped?: Float64Array;
}

const equal = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** A transformed kernel of which `values` [out, in] is the flipped, channel-swapped kernel. */
function flippedOf(
  done: readonly Transformed[],
  values: ArrayLike<number>,
  [out, inC]: readonly number[],
  method: ConvMethod,
) {
  return done.find((d) => {
    if (d.method !== method || d.dims[0] !== inC || d.dims[1] !== out) return false;
    d.flipped ??= flippedKernel(d.kernel, [...d.dims, 3, 3]);
    return equal(d.flipped, values);
  });
}

/**
 * Lowers each 3×3 'same' convolution that `choose` does not leave direct; returns how many. A
 * convolution by another's flipped kernel (the reverse pass's input gradient) reads that one's
 * transformed kernel, so each is held once.
 */
export function lowerConvolutions(g: GraphBuilder, choose: ConvChoice): number {
  const done: Transformed[] = [];
  let lowered = 0;
  for (const node of [...g.nodes]) {
    const channels = sameConv3x3(g, node);
    if (!channels) continue;
    const method = choose(...channels);
    if (method === 'direct') continue;
    const m = TILES[method];
    const [x, kernel, bias] = node.inputs as [string, string, string?];
    const values = g.constant(kernel)!.values;
    const forward = bias ? undefined : flippedOf(done, values, channels, method);
    if (forward) {
      g.replace(node, () => winogradConvFlipped(g, x, forward.u, forward.dims, m));
    } else {
      g.replace(node, () => {
        const u = kernelTransform(g, kernel, channels, m);
        done.push({ u, kernel: values, dims: channels, method });
        return winogradConv(g, x, u, channels, m, bias || undefined);
      });
    }
    lowered++;
  }
  return lowered;
}

/** What a graph's convolutions are asked to be: one method for all, or 'auto' (per layer, measured). */
export const CONV_LOWERINGS = ['auto', ...CONV_METHODS] as const;
export type ConvLowering = (typeof CONV_LOWERINGS)[number];

/**
 * The measured choice (bench/README.md, "Winograd convolutions"): F(4×4, 3×3) where both sides have
 * at least 256 channels (VGG19's block3_conv2 on, forward and backward: 0.45–0.85× the direct Conv
 * at 512 px), the direct Conv on the wide, shallow layers where the transforms' memory traffic costs
 * more than the multiplications saved.
 */
const AUTO: ConvChoice = (outChannels, inChannels) =>
  Math.min(outChannels, inChannels) >= 256 ? 'winograd4' : 'direct';

/**
 * Below this many pixels 'auto' leaves every convolution direct: an evaluation at 96×128 px took
 * as long either way (97 against 99 ms), at 192×256 0.79× with Winograd's, while its transformed
 * kernels cost ~0.3 GB more memory at any size.
 */
export const AUTO_MIN_PIXELS = 128 * 192;

/** The choice for a graph of `pixels` image pixels (undefined: sizes given at run time). */
export function convChoice(lowering: ConvLowering, pixels?: number): ConvChoice {
  if (lowering !== 'auto') return () => lowering;
  return pixels !== undefined && pixels < AUTO_MIN_PIXELS ? () => 'direct' : AUTO;
}
