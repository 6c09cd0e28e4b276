/**
 * Coarse-to-fine: the sizes of the scales and the iterations each gets (how each scale starts
 * from the one before is images.ts' nextScaleStart).
 */
import { settingError } from '../errors.js';

/** 'auto' scales: at most this many, each half the next... */
export const AUTO_SCALES = 3;
/**
 * ...and none whose longest side is below this. The content layer (block5_conv2, 1/16 of the
 * size) has 16×12 positions at 256 px; from a 128-px start (8×6) the style swamps the photo and
 * the finer scales do not bring it back (bench/README.md, "Default run and presets").
 */
export const AUTO_MIN_SCALE = 256;
/**
 * Below 2 × AUTO_MIN_SCALE a single halving still pays, down to this: at 256 px a 128-px start
 * reaches the seed preset's cost after 149 iterations at 256 px where the photo start needs 196,
 * and the picture keeps as much of the photo (bench/README.md, "Default run and presets").
 */
export const AUTO_LOWEST_START = 128;

/**
 * How many halvings of `size` px stay at or above AUTO_MIN_SCALE, plus one, at most `most`; where
 * that is one scale, two when half the size is still AUTO_LOWEST_START or more.
 */
function autoCount(size: number, most: number): number {
  let count = 1;
  while (count < most && Math.round(size / 2 ** count) >= AUTO_MIN_SCALE) count++;
  if (count === 1 && most > 1 && Math.round(size / 2) >= AUTO_LOWEST_START) count = 2;
  return count;
}

/**
 * The scales and the iterations of each. `scales: 'auto'` halves `size` down to AUTO_MIN_SCALE at
 * most (one halving down to AUTO_LOWEST_START from below 2 × AUTO_MIN_SCALE): with a list of
 * iterations, one scale per count, the leading counts dropped where their scale would be smaller
 * (so a schedule for 512 px runs its last scales at 128 px); with a total, at most AUTO_SCALES
 * scales and no more than iterations, the total split as splitIterations does.
 */
export function schedule(
  size: number,
  scales: number | readonly number[] | 'auto',
  iterations: number | readonly number[],
  steps: ScaleSteps = { ratio: 2 },
): { sizes: number[]; counts: number[] } {
  if (scales !== 'auto') {
    const sizes = scaleSizes(size, scales, steps.ratio);
    return { sizes, counts: splitIterations(iterations, sizes.length) };
  }
  if (steps.from !== undefined) {
    const sizes = scaleSizes(size, stepsFrom(size, steps.from, steps.ratio), steps.ratio);
    const counts =
      typeof iterations === 'number'
        ? splitIterations(iterations, sizes.length)
        : sizes.map((_, i) => iterations[Math.min(i, iterations.length - 1)]!);
    return { sizes, counts: splitIterations(counts, sizes.length) };
  }
  const list = typeof iterations !== 'number';
  const count = autoCount(size, list ? iterations.length : Math.min(AUTO_SCALES, iterations));
  const sizes = scaleSizes(size, count);
  return {
    sizes,
    counts: list ? splitIterations(iterations.slice(-count), count) : splitIterations(iterations, count),
  };
}

/**
 * How automatic scales step: each `ratio` times the one before, and with `from` starting at that
 * size (crowsonkb/style-transfer-pytorch's √2 steps from 128 px) instead of the halvings of 'auto'.
 */
export interface ScaleSteps {
  ratio: number;
  from?: number;
}

/** How many scales from `from` px up to `size` px in steps of `ratio` (at least one: `size` itself). */
function stepsFrom(size: number, from: number, ratio: number): number {
  return size <= from ? 1 : 1 + Math.floor(Math.log(size / from) / Math.log(ratio) + 1e-9);
}

/** The sizes of the scales, ascending, the last one `size` (see StylizeOptions.scales). */
export function scaleSizes(size: number, scales: number | readonly number[] = 1, ratio = 2): number[] {
  if (!Number.isInteger(size) || size <= 0) throw settingError('size', 'must be a positive integer');
  if (typeof scales === 'number') {
    if (!Number.isInteger(scales) || scales <= 0)
      throw settingError('scales', 'must be a positive integer or a list of sizes');
    const sizes = Array.from({ length: scales }, (_, i) => Math.round(size / ratio ** (scales - 1 - i)));
    if (sizes[0]! < 1) throw settingError('scales', `: ${scales} scales shrink ${size} px below 1 px`);
    return sizes;
  }
  if (!Array.isArray(scales) || scales.length === 0 || !scales.every((s) => Number.isInteger(s) && s > 0)) {
    throw settingError('scales', 'must be a positive integer or a list of sizes');
  }
  if (!scales.every((s, i) => i === 0 || s > scales[i - 1]!)) throw settingError('scales', 'must be ascending');
  if (scales[scales.length - 1]! > size) throw settingError('scales', `must not exceed size (${size})`);
  return scales[scales.length - 1] === size ? [...scales] : [...scales, size];
}

/**
 * Iterations per scale: a list is taken as it is (one entry per scale); a total is split in
 * proportion 2^(count−1) : … : 2 : 1, so each scale gets half the iterations of the one before it,
 * every scale at least one. An iteration at twice the size costs about four times as much, so most
 * of the work is done where it is cheap and the last scale only refines.
 */
export function splitIterations(iterations: number | readonly number[], count: number): number[] {
  if (typeof iterations !== 'number') {
    if (!Array.isArray(iterations) || !iterations.every((n) => Number.isInteger(n) && n > 0)) {
      throw settingError('iterations', 'must be a positive integer or a list of them');
    }
    if (iterations.length !== count) throw settingError('iterations', `must have one entry per scale (${count})`);
    return [...iterations];
  }
  if (!Number.isInteger(iterations) || iterations <= 0) throw settingError('iterations', 'must be positive');
  if (iterations < count) throw settingError('iterations', `must be at least the number of scales (${count})`);
  const weights = Array.from({ length: count }, (_, i) => 2 ** (count - 1 - i));
  const total = weights.reduce((a, b) => a + b, 0);
  const split = weights.map((w) => Math.max(1, Math.floor((iterations * w) / total)));
  split[0]! += iterations - split.reduce((a, b) => a + b, 0); // the rounding goes to the cheapest scale
  return split;
}
