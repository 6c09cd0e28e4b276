import * as tf from '@tensorflow/tfjs';
import { InputError } from './errors.js';
import type { FeatureModel } from './features.js';
import { costLine, NST, type GenerateOptions, type ImageInput, type NSTOptions } from './nst.js';
import { resizeBicubic, scaledSize } from './preprocess.js';

export interface StylizeOptions extends NSTOptions, Omit<GenerateOptions, 'iterations'> {
  /**
   * Coarse-to-fine: a number of scales, each twice the size of the one before and the last at
   * `size` (default 1: one run at `size`); or the sizes of the scales, ascending, with `size`
   * added as the last one if the list does not end with it.
   */
  scales?: number | readonly number[];
  /**
   * Iterations per scale, one entry per scale; or a total, split so that each scale gets half
   * the iterations of the one before it (see `splitIterations`). Default 1000.
   */
  iterations?: number | readonly number[];
}

/** The sizes of the scales, ascending, the last one `size` (see StylizeOptions.scales). */
export function scaleSizes(size: number, scales: number | readonly number[] = 1): number[] {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError('size must be a positive integer');
  if (typeof scales === 'number') {
    if (!Number.isInteger(scales) || scales <= 0) throw new RangeError('scales must be a positive integer or a list of sizes');
    const sizes = Array.from({ length: scales }, (_, i) => Math.round(size / 2 ** (scales - 1 - i)));
    if (sizes[0]! < 1) throw new RangeError(`${scales} scales halve ${size} px below 1 px`);
    return sizes;
  }
  if (!Array.isArray(scales) || scales.length === 0 || !scales.every((s) => Number.isInteger(s) && s > 0)) {
    throw new RangeError('scales must be a positive integer or a list of sizes');
  }
  if (!scales.every((s, i) => i === 0 || s > scales[i - 1]!)) throw new RangeError('the sizes of the scales must be ascending');
  if (scales[scales.length - 1]! > size) throw new RangeError(`the sizes of the scales must not exceed size (${size})`);
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
      throw new RangeError('iterations must be a positive integer or a list of them');
    }
    if (iterations.length !== count) throw new RangeError(`iterations must have one entry per scale (${count})`);
    return [...iterations];
  }
  if (!Number.isInteger(iterations) || iterations <= 0) throw new RangeError('iterations must be positive');
  if (iterations < count) throw new RangeError(`iterations must be at least the number of scales (${count})`);
  const weights = Array.from({ length: count }, (_, i) => 2 ** (count - 1 - i));
  const total = weights.reduce((a, b) => a + b, 0);
  const split = weights.map((w) => Math.max(1, Math.floor((iterations * w) / total)));
  split[0]! += iterations - split.reduce((a, b) => a + b, 0); // the rounding goes to the cheapest scale
  return split;
}

const shapeOf = (image: ImageInput): readonly number[] => image.shape;

/**
 * Style transfer at one or several scales (coarse-to-fine): at each scale an NST instance is built
 * from the style and content images at that size (so the style targets are those of the style
 * image at that scale) and optimised, starting from the previous scale's best image upsampled
 * bicubically (the first scale starts from `init`). The model is loaded once and shared (or taken
 * from `options.model`). Returns the best image of the last scale, [h, w, 3] in [0, 1] at `size`,
 * and its cost. With `step`, the seed's cost lines are printed per scale, each scale introduced by
 * a `Scale k/n: s px` line when there are several. Progress events carry `scale`, and their
 * `elapsedMs` counts from the start of the whole run. If `signal` aborts, the best image so far is
 * upsampled to the final size and returned with the cost it had at its own scale.
 */
export async function stylize(styleImage: ImageInput, contentImage: ImageInput, options: StylizeOptions = {}): Promise<[tf.Tensor3D, number]> {
  const { scales, iterations = 1000, size = 512, step, init, onProgress, signal, ...rest } = options;
  const sizes = scaleSizes(size, scales);
  const counts = splitIterations(iterations, sizes.length);
  if (step !== undefined && (!Number.isInteger(step) || step <= 0 || step >= Math.max(...counts))) {
    throw new RangeError('step must be positive and less than iterations');
  }
  const log = options.log ?? ((line: string) => console.log(line));
  const single = sizes.length === 1;
  const model: FeatureModel = options.model ?? (await NST.loadFeatureModel(options.weights));
  const start = Date.now();
  let image: tf.Tensor3D | null = null;
  let cost = NaN;
  try {
    for (let k = 0; k < sizes.length; k++) {
      const scaleSize = sizes[k]!;
      const nst = new NST(styleImage, contentImage, { ...rest, size: scaleSize, model });
      try {
        for (const [name, shape] of [['content', nst.contentImage.shape], ['style', nst.styleImage.shape]] as const) {
          if (Math.min(shape[1], shape[2]) < model.minSide) {
            throw new InputError(
              `at the ${k === 0 ? 'first ' : ''}scale of ${scaleSize} px the ${name} image is ${shape[2]}×${shape[1]} px: the features need at least ${model.minSide} px on each side (use fewer scales or a larger size)`,
            );
          }
        }
        nst.generateFeatures();
        if (!single && step !== undefined) log(`Scale ${k + 1}/${sizes.length}: ${scaleSize} px`);
        const previous: tf.Tensor3D | null = image;
        image = null;
        const startImage = previous ? (tf.tidy(() => tf.mul(previous, 255)) as tf.Tensor3D) : init;
        try {
          const n = counts[k]!;
          [image, cost] = await nst.generateImage({
            ...rest,
            iterations: n,
            // One scale: generateImage prints (and checks) the lines exactly as the seed does.
            step: single ? step : undefined,
            init: startImage,
            log: options.log,
            signal,
            onProgress: (event) => {
              if (!single && step !== undefined && (event.iteration % step === 0 || event.iteration === n)) log(costLine(event.iteration, event.costs));
              onProgress?.({ ...event, elapsedMs: Date.now() - start, scale: { index: k + 1, count: sizes.length, size: scaleSize } });
            },
          });
        } finally {
          if (previous) tf.dispose([previous, startImage as tf.Tensor3D]);
        }
      } finally {
        nst.dispose();
      }
      if (signal?.aborted) break;
    }
    const [h, w] = scaledSize(shapeOf(contentImage)[0]!, shapeOf(contentImage)[1]!, size);
    if (image && (image.shape[0] !== h || image.shape[1] !== w)) {
      const small: tf.Tensor3D = image;
      image = tf.tidy(() => tf.clipByValue(resizeBicubic(small, h, w), 0, 1));
      small.dispose();
    }
    return [image!, cost];
  } catch (error) {
    image?.dispose();
    throw error;
  } finally {
    if (!options.model) model.dispose();
  }
}
