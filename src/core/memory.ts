/**
 * The memory guard: how much memory there is, whether a run's estimated peak (the engine's
 * MemoryModel) fits in it, the largest size that does, and the tiles a run needs to fit.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { MemoryModel, RunShape } from '../engine/memory.js';
import { InputError } from '../errors.js';
import { readSystemText } from '../io/files.js';
import { scaledSize, styleSide } from './resize.js';
import { MIN_TILE_SIZE, tiledWork, tileLayout } from '../engine/tiles.js';

/** How much memory a run may use. */
export interface AvailableMemory {
  /** What the process may reach at its peak: what it holds now plus what the system can still give. */
  bytes: number;
  /** The reading that set `bytes`: 'MemAvailable', 'os.freemem' or 'cgroup memory.max'. */
  source: string;
  /** The most the engine's heap can grow to (MemoryModel.heapLimit), or null. */
  heap: number | null;
  /** What set `heap` where a limit given lowered it: 'the memory limit set'. */
  heapSource?: string;
}

/** Headroom below this process's cgroup memory limit (v2, else v1), or null when there is no limit. */
function cgroupHeadroom(): number | null {
  const own = /^0::(.*)$/m.exec(readSystemText('/proc/self/cgroup') ?? '')?.[1] ?? '/';
  for (const dir of [path.join('/sys/fs/cgroup', own), '/sys/fs/cgroup']) {
    const max = readSystemText(path.join(dir, 'memory.max'));
    if (max === null) continue;
    if (max === 'max') return null;
    // The group's page cache counts in memory.current but is given back under pressure.
    const cache = Number(/^inactive_file (\d+)$/m.exec(readSystemText(path.join(dir, 'memory.stat')) ?? '')?.[1] ?? 0);
    return Number(max) - (Number(readSystemText(path.join(dir, 'memory.current')) ?? 0) - cache);
  }
  const limit = Number(readSystemText('/sys/fs/cgroup/memory/memory.limit_in_bytes'));
  if (!(limit > 0 && limit < 2 ** 60)) return null; // v1 says "no limit" with a huge number
  return limit - Number(readSystemText('/sys/fs/cgroup/memory/memory.usage_in_bytes') ?? 0);
}

/**
 * The memory a run may use: the smaller of what the system can still give (MemAvailable from
 * /proc/meminfo, which counts reclaimable cache; else os.freemem) and the headroom under a cgroup
 * limit, plus what this process already holds; and the engine's heap ceiling (wasm: 4 GiB,
 * however much memory the machine has).
 */
export function availableMemory(model: Pick<MemoryModel, 'heapLimit'>): AvailableMemory {
  const meminfo = /^MemAvailable:\s+(\d+) kB$/m.exec(readSystemText('/proc/meminfo') ?? '');
  let free = meminfo ? Number(meminfo[1]) * 1024 : os.freemem();
  let source = meminfo ? 'MemAvailable' : 'os.freemem';
  const cgroup = cgroupHeadroom();
  if (cgroup !== null && cgroup < free) {
    free = Math.max(0, cgroup);
    source = 'cgroup memory.max';
  }
  return { bytes: process.memoryUsage.rss() + free, source, heap: model.heapLimit };
}

/**
 * The memory a run may use: `maxMemory` bytes when given (what the process may reach at its
 * peak, the engine's heap ceiling still applying; on a GPU, what the device may hold), else what
 * the system can give.
 */
export function memoryBudget(
  model: Pick<MemoryModel, 'heapLimit' | 'deviceHeap'>,
  maxMemory?: number,
): AvailableMemory {
  if (maxMemory === undefined) return availableMemory(model);
  if (model.deviceHeap) {
    // A limit above what the device has does not lift the device's own.
    const heap = Math.min(maxMemory, model.heapLimit ?? Infinity);
    return { ...availableMemory(model), heap, ...(heap === maxMemory && { heapSource: 'the memory limit set' }) };
  }
  return { bytes: maxMemory, source: 'the memory limit set', heap: model.heapLimit };
}

/**
 * The tile size of a run (undefined: whole): `tileSize` when it is given and the image is larger;
 * else none when the whole run fits in `available`, or the largest tile (a multiple of 16 px)
 * whose run fits; the smallest tile when none does.
 */
export function tileFor(
  run: RunShape,
  model: MemoryModel,
  available: AvailableMemory,
  tileSize?: number,
): number | undefined {
  const side = Math.max(run.height, run.width);
  if (tileSize !== undefined) return side > tileSize ? tileSize : undefined;
  if (!overLimit(model, run, available)) return undefined;
  // The estimate grows with the tile, so a binary search (on multiples of 16) finds the largest.
  let lo = Math.ceil(MIN_TILE_SIZE / 16);
  let hi = Math.floor((side - 1) / 16);
  if (hi < lo) return MIN_TILE_SIZE;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (!overLimit(model, { ...run, tile: mid * 16 }, available)) lo = mid;
    else hi = mid - 1;
  }
  return lo * 16;
}

/** What `checkMemory` and `largestFittingSize` take: the options of a run as the command resolves them. */
export interface RunPlan extends Omit<RunShape, 'height' | 'width' | 'styleSizes' | 'tile'> {
  /** Tiles of at most this many px (default: tiled only when the whole run does not fit). */
  tileSize?: number;
  /** The longest side of the output (the last scale, the largest). */
  size: number;
  /** Shapes [h, w, …] of the content and style images as read. */
  contentShape: readonly number[];
  /** Shapes of the style images as read (default: one like the content). */
  styleShapes?: readonly (readonly number[])[];
  /** The style images are scaled to this × size (default 1). */
  styleScale?: number;
}

/** The working sizes of a plan at a given longest side, as NST scales its images. */
function shapeAt(plan: Omit<RunPlan, 'size'>, size: number): RunShape {
  const { contentShape, styleShapes = [contentShape], styleScale = 1, tileSize, ...run } = plan;
  const [height, width] = scaledSize(contentShape[0]!, contentShape[1]!, size);
  const side = styleSide(size, styleScale);
  return { ...run, height, width, styleSizes: styleShapes.map((shape) => scaledSize(shape[0]!, shape[1]!, side)) };
}

/** The run at a size, tiled as `tileFor` would tile it. */
function tiledShapeAt(plan: Omit<RunPlan, 'size'>, size: number, model: MemoryModel, available: AvailableMemory) {
  const run = shapeAt(plan, size);
  return { ...run, tile: tileFor(run, model, available, plan.tileSize) };
}

/**
 * The work of one evaluation at each of `sizes` (px of the longest side), in pixels of a whole
 * evaluation: the scale's pixels, times tiledWork where tileFor would tile it. What an ETA weighs
 * the iterations of a scale not reached yet by (the deepest layer defaults as RunShape's does).
 */
export function scaleWork(
  plan: Omit<RunPlan, 'size'>,
  sizes: readonly number[],
  model: MemoryModel,
  available: AvailableMemory = availableMemory(model),
): number[] {
  const deepest = plan.deepestLayer ?? 'block5_conv2';
  return sizes.map((size) => {
    const { height, width, tile } = tiledShapeAt(plan, size, model, available);
    return height * width * (tile === undefined ? 1 : tiledWork(tileLayout(height, width, tile, deepest)));
  });
}

/** Which limit the estimate breaks, if any: the system's memory first, then the engine's heap ceiling. */
function overLimit(model: MemoryModel, run: RunShape, available: AvailableMemory): 'memory' | 'heap' | null {
  const { heap, rss } = model.estimate(run);
  if (rss > available.bytes) return 'memory';
  return available.heap !== null && heap > available.heap ? 'heap' : null;
}

/** The largest longest side (px, at most `max`) whose run fits in `available`; 0 when not even 1 px fits. */
export function largestFittingSize(
  plan: Omit<RunPlan, 'size'>,
  model: MemoryModel,
  available: AvailableMemory = availableMemory(model),
  max = 16384,
): number {
  // The estimate grows with the size, so a binary search finds the boundary.
  let lo = 0;
  let hi = max + 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (!overLimit(model, tiledShapeAt(plan, mid, model, available), available)) lo = mid;
    else hi = mid;
  }
  return lo;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

/** A run too big for the memory there is: the sizes the command words its advice with. */
export class MemoryError extends InputError {
  override name = 'MemoryError';
  constructor(
    message: string,
    /** The size asked for, and the largest that fits (0: none). */
    readonly size: number,
    readonly largest: number,
  ) {
    super(message, { setting: 'size' });
  }
}

/**
 * The guard a caller runs before starting: throws a MemoryError naming the largest size that fits
 * when the estimated peak does not fit in `available`; returns the estimated peak in bytes
 * otherwise. Call it with the shapes of the images as read.
 */
export function checkMemory(
  plan: RunPlan,
  model: MemoryModel,
  available: AvailableMemory = availableMemory(model),
): number {
  const run = tiledShapeAt(plan, plan.size, model, available);
  const { heap, rss } = model.estimate(run);
  if (!overLimit(model, run, available)) return rss;
  const largest = largestFittingSize(plan, model, available, plan.size - 1);
  const advice = largest > 0 ? `the largest size that fits is ${largest}` : 'no size fits';
  // Name the limit that stops the next size up: the one the user would hit.
  const need =
    overLimit(model, tiledShapeAt(plan, largest + 1, model, available), available) === 'heap'
      ? model.deviceHeap
        ? `needs about ${gb(heap)} of the ${model.heapLimitReason}, which has ${gb(available.heap!)}${available.heapSource ? ` (${available.heapSource})` : ''}`
        : `needs about ${gb(rss)}, ${gb(heap)} of it in the ${model.heapLimitReason}`
      : `needs about ${gb(rss)} but about ${gb(available.bytes)} is available (${available.source})`;
  throw new MemoryError(`a ${plan.size} px run ${need}; ${advice}`, plan.size, largest);
}
