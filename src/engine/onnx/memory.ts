/**
 * The memory model of the ONNX engine: a run's peak resident memory derived from the network,
 * fitted to peaks measured on real runs of the command (`node dist/bench/memory-onnx.js`, results
 * and fit in bench/README.md).
 */
import { networkBytes, networkSizes, WASM_HEAP_LIMIT, type MemoryModel, type RunShape } from '../memory.js';

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
  /** Copies of the conv weights: the features graph's, the evaluation graph's and its flipped ones. */
  weightCopies: 3,
  /** The process without a session: Node, TensorFlow.js (wasm, one thread) and ONNX Runtime's libraries. */
  base: 590 * MiB,
  /** L-BFGS pairs, per byte of their own size (fitted 0.84 with 50 pairs at 256 px). */
  lbfgsPairFactor: 0.9,
  images: 8,
  /** The images of the L-BFGS step beside its pairs: free mask, projected gradient, direction, trial, g² and H₀. */
  lbfgsTemporaries: 6,
});

function estimate(run: RunShape): { heap: number; rss: number } {
  const { height, width, deepestLayer, optimizer = 'adam', history = 100 } = run;
  const m = ONNX_MEMORY_MODEL;
  const network = networkSizes(run);
  const { weights, outputs } = networkBytes(network.height, network.width, deepestLayer);
  const image = 3 * 4 * height * width;
  // The targets: one forward pass per image (or tile), its outputs freed layer by layer.
  const targets = Math.max(...network.styleSizes.map(([h, w]) => networkBytes(h, w, deepestLayer).outputs), outputs);
  const state = optimizer === 'lbfgs' ? (m.lbfgsPairFactor * 2 * history + m.lbfgsTemporaries) * image : 2 * image;
  const activations = m.activationFactor * outputs + m.largeExtra * Math.max(0, outputs - m.largeFrom);
  const evaluation = activations + state + (m.images + network.tiledImages) * image;
  const rss = m.base + m.weightCopies * weights + Math.max(targets, evaluation);
  return { heap: rss, rss };
}

/**
 * The guard's model of a run on the ONNX engine (the same with 1 and 2 threads, bench/README.md)
 * on its native build; the WebAssembly build runs the same graphs (fitted on the native
 * one: not measured apart) inside a wasm32 heap, which cannot grow past 4 GiB.
 */
export function onnxMemoryModel(wasm = false): MemoryModel {
  if (!wasm) return { estimate, heapLimit: null, heapLimitReason: '' };
  return {
    estimate,
    heapLimit: WASM_HEAP_LIMIT,
    heapLimitReason: 'wasm heap of onnx-wasm, which cannot grow past 4 GiB',
  };
}
