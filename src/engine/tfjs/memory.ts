/**
 * The memory model of the TensorFlow.js engine: a run's peak memory derived from the network and
 * fitted to peak resident memory measured on real runs of the command (`node dist/bench/memory.js`,
 * results and fit in bench/README.md).
 */
import { networkSizes, type MemoryModel, type RunShape } from '../memory.js';
import { layersUpTo } from '../vgg19.js';

const MiB = 2 ** 20;

/**
 * The fitted constants (bench/results/memory.json; refit with `node dist/bench/memory.js`).
 * Everything in bytes or as a multiple of the architecture's own sizes.
 */
export const MEMORY_MODEL = Object.freeze({
  /**
   * Bytes held during one gradient evaluation per byte of layer outputs (every conv and pooling
   * output up to the deepest layer, float32). About 4: under a gradient TensorFlow.js splits the
   * fused conv + bias + ReLU into three ops whose outputs all live until the pass ends, and the
   * Gram matrices' transposed features and the backward temporaries come on top.
   */
  activationFactor: 4.36,
  /**
   * Copies of the conv weights in the wasm heap: the kernels, their flipped copies for the input
   * gradient, and XNNPACK's packed copy for each of the three ways they are convolved (fused for
   * the targets, unfused under a gradient, flipped in the backward pass).
   */
  wasmWeightCopies: 5,
  /** The rest of the wasm heap: runtime, thread stacks, the decoded input images, allocator slack. */
  wasmHeapBase: 206 * MiB,
  /** Resident memory outside the wasm heap: Node, V8 heaps, and the threaded build's 8 workers. */
  wasmOutsideHeap: 472 * MiB,
  wasmOutsideHeapOneThread: 160 * MiB,
  /** Native backends hold the weights and their flipped copies only. */
  nativeWeightCopies: 2,
  /**
   * The factor of the backends outside the wasm heap, `cpu` (JavaScript) and `tensorflow` (native),
   * fitted on `cpu` at 64 and 128 px only (it takes minutes per iteration beyond): larger than
   * wasm's, its freed tensors wait for the garbage collector. Native TensorFlow is not installed
   * here, so it is not measured: it gets the same.
   */
  nativeActivationFactor: 7.8,
  /** The process without tensors of those backends (measured on `cpu`). */
  nativeBase: 179 * MiB,
  /**
   * Bytes per byte of L-BFGS correction pairs: the pairs are allocated between passes, among
   * the holes the freed activations leave, so the heap grows by more than their own size (1.06
   * to 1.71 in three runs with 50–100 pairs: the heap's growth differs from run to run).
   */
  lbfgsPairFactor: 1.3,
  /** Images held beside the optimiser state: the image, the best one, the gradient, the targets. */
  images: 6,
  /**
   * Images beside the pairs at the L-BFGS peak: free mask, projected gradient, direction, trial,
   * the running mean of g² and H₀'s diagonal.
   */
  lbfgsTemporaries: 6,
});

/** The wasm heap cannot grow past this (wasm32's 4 GiB address space, as the glue's getHeapMax says). */
export const WASM_HEAP_LIMIT = 4294901760;

/** A run on one of TensorFlow.js' backends. */
export interface TfjsRunShape extends RunShape {
  /** The backend that runs (BackendInfo.name): 'wasm' (default), 'cpu' or 'tensorflow'. */
  backend?: string;
  /** Threads of the wasm backend (BackendInfo.threads); more than 1 means the threaded build. Default 2. */
  threads?: number;
}

/** Bytes of the float32 weights loaded to reach `deepestLayer`, and of every layer output up to it. */
export function networkBytes(
  height: number,
  width: number,
  deepestLayer = 'block5_conv2',
): { weights: number; outputs: number } {
  let [h, w, channels] = [height, width, 3];
  let weights = 0;
  let outputs = 0;
  for (const layer of layersUpTo(deepestLayer)) {
    if (layer.kind === 'conv') {
      const [kh, kw, cin, cout] = layer.spec.shape;
      weights += kh * kw * cin * cout + cout;
      channels = cout;
    } else {
      // 2×2 pooling, valid padding.
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
    outputs += h * w * channels;
  }
  return { weights: 4 * weights, outputs: 4 * outputs };
}

/** The two parts of the estimate: what lives in tensors (the wasm heap on wasm), and the whole process. */
function estimate(run: TfjsRunShape): { heap: number; rss: number } {
  const { height, width, deepestLayer, optimizer = 'adam', history = 100, threads = 2 } = run;
  if (!(height > 0 && width > 0)) throw new RangeError('height and width must be positive');
  const m = MEMORY_MODEL;
  const network = networkSizes(run);
  const { weights, outputs } = networkBytes(network.height, network.width, deepestLayer);
  const image = 3 * 4 * height * width;
  // The targets: one forward pass of each style image (or tile) and of the content image, all outputs kept.
  const targets = network.styleSizes.reduce((sum, [h, w]) => sum + networkBytes(h, w, deepestLayer).outputs, outputs);
  // The optimisation: a gradient evaluation with the optimiser's state alive.
  const state = optimizer === 'lbfgs' ? (m.lbfgsPairFactor * 2 * history + m.lbfgsTemporaries) * image : 2 * image; // L-BFGS pairs (s, y); Adam m, v
  const wasm = (run.backend ?? 'wasm') === 'wasm';
  const optimisation =
    (wasm ? m.activationFactor : m.nativeActivationFactor) * outputs + state + (m.images + network.tiledImages) * image;
  // Memory is reused from one phase to the next, so the larger phase sets the peak.
  const phases = Math.max(targets, optimisation);
  if (wasm) {
    const tensors = m.wasmHeapBase + m.wasmWeightCopies * weights + phases;
    return { heap: tensors, rss: tensors + (threads > 1 ? m.wasmOutsideHeap : m.wasmOutsideHeapOneThread) };
  }
  const tensors = m.nativeWeightCopies * weights + phases;
  return { heap: tensors, rss: m.nativeBase + tensors };
}

/** Estimated peak resident memory of a whole run (the process, not only the tensors), in bytes. */
export function estimateMemory(run: TfjsRunShape): number {
  return estimate(run).rss;
}

/** Estimated peak size of the wasm heap for the run on wasm (its part of `estimateMemory`), in bytes: what must fit under WASM_HEAP_LIMIT. */
export function estimateWasmHeap(run: TfjsRunShape): number {
  return estimate({ ...run, backend: 'wasm' }).heap;
}

/** The model the memory guard uses for a run on `backend` ('wasm', 'cpu', 'tensorflow') with `threads`. */
export function tfjsMemoryModel(backend: string, threads: number): MemoryModel {
  const wasm = backend === 'wasm';
  return {
    estimate: (run) => estimate({ ...run, backend, threads }),
    heapLimit: wasm ? WASM_HEAP_LIMIT : null,
    heapLimitReason: wasm ? 'wasm heap, which cannot grow past 4 GiB (wasm: 4 GiB address space)' : '',
  };
}
