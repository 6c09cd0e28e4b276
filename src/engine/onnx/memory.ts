/**
 * The memory model of the ONNX engine: a run's peak resident memory derived from the network,
 * fitted to peaks measured on real runs of the command (`node dist/bench/memory-onnx.js`, results
 * and fit in bench/README.md).
 */
import { convChoice, type ConvChoice, type ConvLowering, type ConvMethod } from '../graph/convolutions.js';
import { networkBytes, networkSizes, WASM_HEAP_LIMIT, type MemoryModel, type RunShape } from '../memory.js';
import { layersUpTo } from '../vgg19.js';

const MiB = 2 ** 20;

/** The fitted constants, in bytes or as multiples of the architecture's own sizes. */
export const ONNX_MEMORY_MODEL = Object.freeze({
  /**
   * Bytes per byte of layer outputs during an evaluation: the forward activations kept for the
   * backward pass, the ReLU masks and the gradients in flight, in ONNX Runtime's arena (fitted:
   * 2.59 with the features graph's arena beside it, about 2 without; 2.02 with the derived
   * gradient's float64 intermediates, whose 1024-px peak 2.05 covers, bench/README.md).
   */
  activationFactor: 2.05,
  /**
   * Beyond `largeFrom` bytes of layer outputs, this much more per byte: ONNX Runtime's arena grows
   * in powers of two, so a large network holds more than it uses. Fitted on 1216-px tiles (2048 px
   * in 4 tiles: 5732 MB, bench/results/tiles-1216.json, where factor 2 alone said 4974 MB); the
   * runs of the factor's own fit (whole up to 1024 px, 512-px tiles) stay below `largeFrom`.
   */
  largeExtra: 0.96,
  /** The layer outputs of a whole 1024×768-px run, the largest of the factor's fit. */
  largeFrom: 966 * MiB,
  /**
   * The same where Winograd's convolutions run (graph/winograd.ts): their tile transforms reach
   * the arena's next doubling sooner. Fitted on `node dist/bench/memory-onnx.js` (whole runs up to
   * 1024 px, whose 3876 MiB the factor alone put at 2948; every row within 7%, bench/README.md
   * "Winograd convolutions").
   */
  winogradLargeExtra: 2.4,
  winogradLargeFrom: 600 * MiB,
  /** The process without a session: Node, TensorFlow.js (wasm, one thread) and ONNX Runtime's libraries. */
  base: 590 * MiB,
  /** L-BFGS pairs, per byte of their own size (fitted 0.84 with 50 pairs at 256 px). */
  lbfgsPairFactor: 0.9,
  images: 8,
  /** The images of the L-BFGS step beside its pairs: free mask, projected gradient, direction, trial, g² and H₀. */
  lbfgsTemporaries: 6,
});

/** Kernel taps per channel pair an evaluation graph holds: direct, the kernel and its flipped copy; Winograd, one transformed kernel of t² taps that both passes read. */
const TAPS = { direct: 18, winograd2: 16, winograd4: 36 } as const;

/**
 * Bytes of the weights the sessions hold up to `deepestLayer`: the features graph's kernels
 * (direct), the evaluation graph's as `convolution` lowers them, and their biases.
 */
export function heldWeightBytes(
  deepestLayer = 'block5_conv2',
  convolution: ConvLowering = 'auto',
  pixels?: number,
): number {
  return weightBytes(deepestLayer, convChoice(convolution, pixels), (method) => 9 + TAPS[method], 2);
}

/**
 * Bytes of the transformed kernels, which ONNX Runtime computes while it loads an evaluation
 * graph (constant folding) and briefly holds twice: the peak of a small run.
 */
export function transformedWeightBytes(
  deepestLayer = 'block5_conv2',
  convolution: ConvLowering = 'auto',
  pixels?: number,
): number {
  return weightBytes(deepestLayer, convChoice(convolution, pixels), (m) => (m === 'direct' ? 0 : TAPS[m]), 0);
}

function weightBytes(deepest: string, choose: ConvChoice, taps: (m: ConvMethod) => number, biases: number) {
  let values = 0;
  for (const layer of layersUpTo(deepest)) {
    if (layer.kind !== 'conv') continue;
    const [, , cin, cout] = layer.spec.shape;
    values += cin * cout * taps(choose(cout, cin)) + biases * cout;
  }
  return 4 * values;
}

/** A run's parts, in bytes: what the sessions hold and peak at, and the optimiser's images. */
function parts(run: RunShape, convolution: ConvLowering) {
  const { height, width, deepestLayer, optimizer = 'adam', history = 100 } = run;
  const m = ONNX_MEMORY_MODEL;
  const network = networkSizes(run);
  const { outputs } = networkBytes(network.height, network.width, deepestLayer);
  const image = 3 * 4 * height * width;
  // The targets: one forward pass per image (or tile), its outputs freed layer by layer.
  const targets = Math.max(...network.styleSizes.map(([h, w]) => networkBytes(h, w, deepestLayer).outputs), outputs);
  /** Bytes of s and y of every pair kept. */
  const historyBytes = optimizer === 'lbfgs' ? 2 * history * image : 0;
  const pairs = m.lbfgsPairFactor * historyBytes;
  const state = optimizer === 'lbfgs' ? m.lbfgsTemporaries * image : 2 * image;
  // The evaluation graph's size (a tile's, when tiled) decides which convolutions are lowered.
  const pixels = network.height * network.width;
  const folding = transformedWeightBytes(deepestLayer, convolution, pixels);
  const [from, extra] = folding > 0 ? [m.winogradLargeFrom, m.winogradLargeExtra] : [m.largeFrom, m.largeExtra];
  const activations = m.activationFactor * outputs + extra * Math.max(0, outputs - from);
  const images = (m.images + network.tiledImages) * image;
  const held = heldWeightBytes(deepestLayer, convolution, pixels);
  return { targets, historyBytes, pairs, state, folding, activations, images, held };
}

function estimate(run: RunShape, convolution: ConvLowering): { heap: number; rss: number } {
  const { targets, pairs, state, folding, activations, images, held } = parts(run, convolution);
  const rss = ONNX_MEMORY_MODEL.base + held + Math.max(targets, activations + pairs + state + images, folding);
  return { heap: rss, rss };
}

/**
 * On a GPU (WebGPU): the device holds the weights, the activations (the CPU's fit: the same
 * graph's tensors; not measured on a GPU, whose allocator may round differently), L-BFGS's pairs
 * twice (the whole matrices from the first pair on, and a pair's write makes new ones before the
 * old go) and the images of the optimiser's graphs; the host holds the process, a copy of the
 * weights while a session loads, the pairs' copy and the optimiser's images.
 */
function deviceEstimate(run: RunShape, convolution: ConvLowering): { heap: number; rss: number } {
  const { targets, historyBytes, pairs, state, folding, activations, images, held } = parts(run, convolution);
  const heap = held + Math.max(targets, activations + 2 * historyBytes + images, folding);
  const rss = ONNX_MEMORY_MODEL.base + held + pairs + state + images;
  return { heap, rss };
}

/** What the guard knows of a GPU: its name and memory (null where its driver does not say). */
export interface DeviceMemory {
  name: string;
  memory: number | null;
}

/**
 * The guard's model of a run on the ONNX engine (the same with 1 and 2 threads, bench/README.md)
 * on its native build, its convolutions lowered as `convolution` says; the WebAssembly build runs
 * the same graphs (fitted on the native one: not measured apart) inside a wasm32 heap, which
 * cannot grow past 4 GiB. On a GPU (`device`) the heap is the device's memory.
 */
export function onnxMemoryModel(wasm = false, convolution: ConvLowering = 'auto', device?: DeviceMemory): MemoryModel {
  if (device) {
    const estimate = (run: RunShape) => deviceEstimate(run, convolution);
    return {
      estimate,
      heapLimit: device.memory,
      heapLimitReason: `memory of the GPU (${device.name})`,
      deviceHeap: true,
    };
  }
  const model = (run: RunShape) => estimate(run, convolution);
  if (!wasm) return { estimate: model, heapLimit: null, heapLimitReason: '' };
  return {
    estimate: model,
    heapLimit: WASM_HEAP_LIMIT,
    heapLimitReason: 'wasm heap of onnx-wasm, which cannot grow past 4 GiB',
  };
}
