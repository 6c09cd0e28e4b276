/**
 * A memory guard: how much memory a run will need, how much there is, and the largest size that
 * fits. The model is derived from the network and fitted to peak resident memory measured on real
 * runs of the command (`node dist/bench/memory.js`, results and fit in bench/README.md).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { VGG19_CONV_NAMES } from './tfjs/features.js';
import type { OptimizerName } from '../nst.js';
import { scaledSize } from '../io/images.js';
import { VGG19_CONV_SPECS } from '../io/weights.js';

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
   * The JavaScript backend's factor (fitted at 64 and 128 px only: that backend takes minutes per
   * iteration beyond): larger than wasm's, its freed tensors wait for the garbage collector. The
   * native TensorFlow backend is not installed here, so it is not measured: it gets the same.
   */
  nativeActivationFactor: 7.8,
  /** The JavaScript backend's process without tensors. */
  nativeBase: 179 * MiB,
  /**
   * Bytes per byte of L-BFGS correction pairs: the pairs are allocated between passes, among
   * the holes the freed activations leave, so the heap grows by more than their own size (1.06
   * to 1.71 in three runs with 50–100 pairs: the heap's growth differs from run to run).
   */
  lbfgsPairFactor: 1.3,
  /** Images held beside the optimiser state: the image, the best one, the gradient, the targets. */
  images: 6,
  /** Images of temporaries at the L-BFGS peak (free mask, projected gradient, direction, trial). */
  lbfgsTemporaries: 5,
});

/** The wasm heap cannot grow past this (wasm32's 4 GiB address space, as the glue's getHeapMax says). */
export const WASM_HEAP_LIMIT = 4294901760;

/** What a run is: the working sizes (after scaling) and how it is optimised, on which backend. */
export interface RunShape {
  /** Working size of the generated image in pixels (the last scale's). */
  height: number;
  width: number;
  /** Working sizes [h, w] of the style images (default: one the size of the generated image). */
  styleSizes?: readonly (readonly [number, number])[];
  /** The deepest VGG19 layer used (default block5_conv2, NST's content layer). */
  deepestLayer?: string;
  /** Default 'adam'. */
  optimizer?: OptimizerName;
  /** L-BFGS correction pairs kept (default 100). */
  history?: number;
  /** The backend that runs (BackendInfo.name): 'wasm' (default), 'cpu' or 'tensorflow'. */
  backend?: string;
  /** Threads of the wasm backend (BackendInfo.threads); more than 1 means the threaded build. Default 2. */
  threads?: number;
}

const blockOf = (name: string) => name.split('_')[0];
const onWasm = (run: { backend?: string }) => (run.backend ?? 'wasm') === 'wasm';

/** Bytes of the float32 weights loaded to reach `deepestLayer`, and of every layer output up to it. */
export function networkBytes(
  height: number,
  width: number,
  deepestLayer = 'block5_conv2',
): { weights: number; outputs: number } {
  if (!VGG19_CONV_NAMES.includes(deepestLayer)) throw new RangeError(`unknown VGG19 layer ${deepestLayer}`);
  let h = height;
  let w = width;
  let weights = 0;
  let outputs = 0;
  for (let i = 0; i < VGG19_CONV_SPECS.length; i++) {
    const { name, shape } = VGG19_CONV_SPECS[i]!;
    const [kh, kw, cin, cout] = shape;
    weights += kh * kw * cin * cout + cout;
    outputs += h * w * cout;
    if (name === deepestLayer) break;
    // The block's 2×2 pooling (valid padding) follows its last conv.
    if (blockOf(VGG19_CONV_SPECS[i + 1]!.name) !== blockOf(name)) {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
      outputs += h * w * cout;
    }
  }
  return { weights: 4 * weights, outputs: 4 * outputs };
}

/** The two parts of the estimate: what lives in tensors (the wasm heap on wasm), and the whole process. */
function estimate(run: RunShape): { tensors: number; rss: number } {
  const { height, width, deepestLayer, optimizer = 'adam', history = 100, threads = 2 } = run;
  if (!(height > 0 && width > 0)) throw new RangeError('height and width must be positive');
  const m = MEMORY_MODEL;
  const { weights, outputs } = networkBytes(height, width, deepestLayer);
  const image = 3 * 4 * height * width;
  // The targets: one forward pass of each style image and of the content image, all outputs kept.
  const styleSizes = run.styleSizes ?? [[height, width]];
  const targets = styleSizes.reduce((sum, [h, w]) => sum + networkBytes(h, w, deepestLayer).outputs, outputs);
  // The optimisation: a gradient evaluation with the optimiser's state alive.
  const state = optimizer === 'lbfgs' ? (m.lbfgsPairFactor * 2 * history + m.lbfgsTemporaries) * image : 2 * image; // L-BFGS pairs (s, y); Adam m, v
  const wasm = onWasm(run);
  const optimisation = (wasm ? m.activationFactor : m.nativeActivationFactor) * outputs + state + m.images * image;
  // Memory is reused from one phase to the next, so the larger phase sets the peak.
  const phases = Math.max(targets, optimisation);
  if (wasm) {
    const tensors = m.wasmHeapBase + m.wasmWeightCopies * weights + phases;
    return { tensors, rss: tensors + (threads > 1 ? m.wasmOutsideHeap : m.wasmOutsideHeapOneThread) };
  }
  const tensors = m.nativeWeightCopies * weights + phases;
  return { tensors, rss: m.nativeBase + tensors };
}

/** Estimated peak resident memory of a whole run (the process, not only the tensors), in bytes. */
export function estimateMemory(run: RunShape): number {
  return estimate(run).rss;
}

/** Estimated peak size of the wasm heap for the run on wasm (its part of `estimateMemory`), in bytes: what must fit under WASM_HEAP_LIMIT. */
export function estimateWasmHeap(run: RunShape): number {
  return estimate({ ...run, backend: 'wasm' }).tensors;
}

/** How much memory a run may use. */
export interface AvailableMemory {
  /** What the process may reach at its peak: what it holds now plus what the system can still give. */
  bytes: number;
  /** The reading that set `bytes`: 'MemAvailable', 'os.freemem' or 'cgroup memory.max'. */
  source: string;
  /** On wasm, the most the wasm heap can grow to (WASM_HEAP_LIMIT); null on other backends. */
  wasmHeap: number | null;
}

const readText = (file: string): string | null => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
};

/** Headroom below this process's cgroup memory limit (v2, else v1), or null when there is no limit. */
function cgroupHeadroom(): number | null {
  const own = /^0::(.*)$/m.exec(readText('/proc/self/cgroup') ?? '')?.[1] ?? '/';
  for (const dir of [path.join('/sys/fs/cgroup', own), '/sys/fs/cgroup']) {
    const max = readText(path.join(dir, 'memory.max'));
    if (max === null) continue;
    if (max === 'max') return null;
    // The group's page cache counts in memory.current but is given back under pressure.
    const cache = Number(/^inactive_file (\d+)$/m.exec(readText(path.join(dir, 'memory.stat')) ?? '')?.[1] ?? 0);
    return Number(max) - (Number(readText(path.join(dir, 'memory.current')) ?? 0) - cache);
  }
  const limit = Number(readText('/sys/fs/cgroup/memory/memory.limit_in_bytes'));
  if (!(limit > 0 && limit < 2 ** 60)) return null; // v1 says "no limit" with a huge number
  return limit - Number(readText('/sys/fs/cgroup/memory/memory.usage_in_bytes') ?? 0);
}

/**
 * The memory a run may use on `backend` ('wasm', 'cpu', 'tensorflow'): the smaller of what the
 * system can still give (MemAvailable from /proc/meminfo, which counts reclaimable cache; else
 * os.freemem) and the headroom under a cgroup limit, plus what this process already holds. On
 * wasm the heap has its own ceiling, WASM_HEAP_LIMIT, however much memory the machine has.
 */
export function availableMemory(backend: string): AvailableMemory {
  const meminfo = /^MemAvailable:\s+(\d+) kB$/m.exec(readText('/proc/meminfo') ?? '');
  let free = meminfo ? Number(meminfo[1]) * 1024 : os.freemem();
  let source = meminfo ? 'MemAvailable' : 'os.freemem';
  const cgroup = cgroupHeadroom();
  if (cgroup !== null && cgroup < free) {
    free = Math.max(0, cgroup);
    source = 'cgroup memory.max';
  }
  return { bytes: process.memoryUsage.rss() + free, source, wasmHeap: backend === 'wasm' ? WASM_HEAP_LIMIT : null };
}

/** What `checkMemory` and `largestFittingSize` take: the options of a run as the command resolves them. */
export interface RunPlan extends Omit<RunShape, 'height' | 'width' | 'styleSizes'> {
  /** --size: the longest side of the output (the last scale, the largest). */
  size: number;
  /** Shapes [h, w, …] of the content and style images as read. */
  contentShape: readonly number[];
  /** Shapes of the style images as read (default: one like the content). */
  styleShapes?: readonly (readonly number[])[];
  /** --style-scale: the style images are scaled to this × size (default 1). */
  styleScale?: number;
}

/** The working sizes of a plan at a given longest side, as NST scales its images. */
function shapeAt(plan: Omit<RunPlan, 'size'>, size: number): RunShape {
  const { contentShape, styleShapes = [contentShape], styleScale = 1, ...run } = plan;
  const [height, width] = scaledSize(contentShape[0]!, contentShape[1]!, size);
  const styleSide = Math.max(1, Math.round(styleScale * size));
  return { ...run, height, width, styleSizes: styleShapes.map((shape) => scaledSize(shape[0]!, shape[1]!, styleSide)) };
}

/** Which limit the estimate breaks, if any: the system's memory first, then (on wasm) the heap's ceiling. */
function overLimit(run: RunShape, available: AvailableMemory): 'memory' | 'heap' | null {
  const { tensors, rss } = estimate(run);
  if (rss > available.bytes) return 'memory';
  return onWasm(run) && available.wasmHeap !== null && tensors > available.wasmHeap ? 'heap' : null;
}

/** The largest longest side (px, at most `max`) whose run fits in `available`; 0 when not even 1 px fits. */
export function largestFittingSize(plan: Omit<RunPlan, 'size'>, available: AvailableMemory, max = 16384): number {
  // The estimate grows with the size, so a binary search finds the boundary.
  let lo = 0;
  let hi = max + 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (!overLimit(shapeAt(plan, mid), available)) lo = mid;
    else hi = mid;
  }
  return lo;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

/**
 * The guard the command runs before starting (unless --no-memory-check): throws an InputError
 * naming the largest --size that fits when the estimated peak does not fit in `available`
 * (default: `availableMemory(plan.backend)`). Returns the estimated peak in bytes otherwise.
 * Call it with the resolved options: the backend as BackendInfo.name and .threads, the shapes
 * of the images read.
 */
export function checkMemory(
  plan: RunPlan,
  available: AvailableMemory = availableMemory(plan.backend ?? 'wasm'),
): number {
  const run = shapeAt(plan, plan.size);
  const { tensors, rss } = estimate(run);
  if (!overLimit(run, available)) return rss;
  const largest = largestFittingSize(plan, available, plan.size - 1);
  const advice = largest > 0 ? `the largest --size that fits is ${largest}` : 'no --size fits';
  // Name the limit that stops the next size up: the one the user would hit.
  const need =
    overLimit(shapeAt(plan, largest + 1), available) === 'heap'
      ? `needs about ${gb(rss)}, ${gb(tensors)} of it in the wasm heap, which cannot grow past 4 GiB (wasm: 4 GiB address space)`
      : `needs about ${gb(rss)} but about ${gb(available.bytes)} is available (${available.source})`;
  throw new InputError(`a ${plan.size} px run ${need}; ${advice} (or pass --no-memory-check)`);
}
