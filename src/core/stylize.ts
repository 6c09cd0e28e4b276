import * as tf from '@tensorflow/tfjs';
import {
  luminance,
  matchColorHistogram,
  matchLuminance,
  withContentColors,
  PRESERVE_COLORS,
  type PreserveColors,
} from './color.js';
import { InputError } from '../errors.js';
import type { FeatureModel } from '../engine/tfjs/features.js';
import {
  checkImage,
  checkLayers,
  costLine,
  fingerprint,
  normaliseWeights,
  NST,
  type GenerateOptions,
  type ImageInput,
  type NSTOptions,
} from '../nst.js';
import type { LoopState } from '../optim/optimizer.js';
import { resizeBicubic, scaledSize, scaleImage } from '../io/images.js';

/**
 * A run's state at the end of an iteration, enough to continue it exactly (see StylizeOptions.resume).
 * `saveCheckpoint` / `loadCheckpoint` (checkpoint.ts) write and read it as a file.
 */
export interface Checkpoint {
  /** The options that shape the result, resolved (defaults filled in); a resumed run must have the same. */
  settings: RunSettings;
  /** SHA-256 of the input images' pixels (content, styles, init image), so a resume uses the same images. */
  inputs: string;
  /** The scale (0-based) the state belongs to. */
  scale: number;
  state: LoopState;
}

/** The options that shape the result of `stylize`, with their defaults filled in. */
export interface RunSettings {
  alpha: number;
  beta: number;
  var: number;
  size: number;
  scales: number[];
  iterations: number[];
  optimizer: string;
  lr: number;
  beta1: number;
  beta2: number;
  history: number;
  tolerance: number;
  init: string;
  seed: number | null;
  preserveColors: PreserveColors;
  styleWeights: number[];
  styleScale: number;
  styleLayers: string[];
  contentLayers: string[];
  styleLayerWeights: number[];
  pooling: string;
}

export interface StylizeOptions extends NSTOptions, Omit<GenerateOptions, 'iterations' | 'onState' | 'resume'> {
  /** Keep the content's colours (see color.ts): 'none' (default), 'luminance', 'histogram' or 'swap'. */
  preserveColors?: PreserveColors;
  /** Call `onSnapshot` every this many iterations (counted over all scales). */
  snapshotEvery?: number;
  /** The output as it would be if the run stopped now ([h, w, 3] in [0, 1] at `size`, disposed after the call); awaited. */
  onSnapshot?: (image: tf.Tensor3D, iteration: number) => void | Promise<void>;
  /** Call `onCheckpoint` every this many iterations (counted over all scales); it is also called when `signal` aborts. */
  checkpointEvery?: number;
  /** The run's state (borrowed for the call; awaited): save it with `saveCheckpoint`. */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
  /** Continue the run a checkpoint was taken from: same images and settings, same result as without the stop. */
  resume?: Checkpoint;
  /** How messages name the images (default `content image`, `style image` or `style image 1`, …); the command adds the file names. */
  imageNames?: { content: string; styles: readonly string[] };
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
    if (!Number.isInteger(scales) || scales <= 0)
      throw new RangeError('scales must be a positive integer or a list of sizes');
    const sizes = Array.from({ length: scales }, (_, i) => Math.round(size / 2 ** (scales - 1 - i)));
    if (sizes[0]! < 1) throw new RangeError(`${scales} scales halve ${size} px below 1 px`);
    return sizes;
  }
  if (!Array.isArray(scales) || scales.length === 0 || !scales.every((s) => Number.isInteger(s) && s > 0)) {
    throw new RangeError('scales must be a positive integer or a list of sizes');
  }
  if (!scales.every((s, i) => i === 0 || s > scales[i - 1]!))
    throw new RangeError('the sizes of the scales must be ascending');
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

/** The settings of a run, defaults resolved: what a checkpoint records and a resume must match. */
function resolveSettings(options: StylizeOptions, sizes: number[], counts: number[], styleCount: number): RunSettings {
  const preserveColors = options.preserveColors ?? 'none';
  if (!PRESERVE_COLORS.includes(preserveColors))
    throw new RangeError(`preserve colors must be ${PRESERVE_COLORS.join(', ')}`);
  const styleLayers = checkLayers(options.styleLayers ?? NST.styleLayers, 'style layers');
  const init = options.init ?? 'content';
  const styleScale = options.styleScale ?? 1;
  if (!(styleScale > 0 && Number.isFinite(styleScale))) throw new RangeError('style scale must be a positive number');
  return {
    alpha: options.alpha ?? 1e4,
    beta: options.beta ?? 1,
    var: options.var ?? 10,
    size: sizes[sizes.length - 1]!,
    scales: sizes,
    iterations: counts,
    optimizer: options.optimizer ?? 'adam',
    lr: options.lr ?? 0.01,
    beta1: options.beta1 ?? 0.9,
    beta2: options.beta2 ?? 0.99,
    history: options.history ?? 100,
    tolerance: options.tolerance ?? 1e-6,
    init: typeof init === 'string' ? init : 'image',
    seed: options.seed ?? null,
    preserveColors,
    styleWeights: normaliseWeights(options.styleWeights, styleCount, 'style weights', 'style image'),
    styleScale,
    styleLayers,
    contentLayers: checkLayers(options.contentLayers ?? [NST.contentLayer], 'content layers'),
    styleLayerWeights: normaliseWeights(
      options.styleLayerWeights,
      styleLayers.length,
      'style layer weights',
      'style layer',
    ),
    pooling: options.pooling ?? 'avg',
  };
}

/**
 * Checks the options of `stylize` for `styleCount` style images, as `stylize` does before any work:
 * a RangeError names the first bad one. Returns the resolved settings.
 */
export function checkStylizeOptions(options: StylizeOptions, styleCount: number): RunSettings {
  const { scales, iterations = 1000, size = 512, step, snapshotEvery, checkpointEvery } = options;
  const sizes = scaleSizes(size, scales);
  const counts = splitIterations(iterations, sizes.length);
  if (step !== undefined && (!Number.isInteger(step) || step <= 0 || step >= Math.max(...counts))) {
    throw new RangeError('step must be positive and less than iterations');
  }
  for (const [name, every] of [
    ['snapshot every', snapshotEvery],
    ['checkpoint every', checkpointEvery],
  ] as const) {
    if (every !== undefined && !(Number.isInteger(every) && every > 0))
      throw new RangeError(`${name} must be a positive integer`);
  }
  const settings = resolveSettings(options, sizes, counts, styleCount);
  if (options.resume) checkResumeSettings(options.resume, settings);
  return settings;
}

/** Throws a RangeError naming the first setting in which a checkpoint differs from this run. */
function checkResumeSettings(checkpoint: Checkpoint, settings: RunSettings): void {
  for (const key of Object.keys(settings) as (keyof RunSettings)[]) {
    const [then, now] = [JSON.stringify(checkpoint.settings[key]), JSON.stringify(settings[key])];
    if (then !== now)
      throw new RangeError(`cannot resume: the checkpoint was made with ${key} ${then}, this run has ${now}`);
  }
}

/**
 * The start of a scale from the previous scale's result (both [h, w, 3] in [0, 1]; the result is
 * raw, 0..255, at `base`'s size). Upsampling alone blurs: the fine texture that the deeper style
 * layers respond to is gone, and the next scale spends its first iterations rebuilding it. So the
 * result's change to the initial image is upsampled and added to the initial image at the new
 * scale, which keeps that image's own fine detail (the photo's, for the default content init):
 * ≈ 7% fewer iterations at the last scale in bench/README.md's time-to-quality run. Noise has no
 * detail worth keeping (null base): the result is upsampled alone.
 */
export function nextScaleStart(
  previous: tf.Tensor3D,
  previousBase: tf.Tensor4D | null,
  base: tf.Tensor4D | null,
): tf.Tensor3D {
  return tf.tidy(() => {
    if (!previousBase || !base) return tf.mul(previous, 255) as tf.Tensor3D;
    const [, h, w] = base.shape;
    const change = resizeBicubic(tf.sub(previous, tf.squeeze(previousBase, [0])) as tf.Tensor3D, h, w);
    return tf.mul(tf.clipByValue(tf.add(tf.squeeze(base, [0]), change), 0, 1), 255) as tf.Tensor3D;
  });
}

/**
 * Style transfer at one or several scales (coarse-to-fine): at each scale an NST instance is built
 * from the style and content images at that size (so the style targets are those of the style
 * images at that scale) and optimised, starting from the previous scale's best image upsampled
 * bicubically with the initial image's detail kept (see nextScaleStart; the first scale starts
 * from `init`). The model is loaded once and shared (or taken
 * from `options.model`). Returns the best image of the last scale, [h, w, 3] in [0, 1] at `size`,
 * and its cost. With `step`, the seed's cost lines are printed per scale, each scale introduced by
 * a `Scale k/n: s px` line when there are several. Progress events carry `scale`, and their
 * `elapsedMs` counts from the start of the whole run. If `signal` aborts, the best image so far is
 * upsampled to the final size and returned with the cost it had at its own scale.
 *
 * `styleImage` may be a list of images, blended by `styleWeights`. `preserveColors` prepares the
 * images before the run (luminance, histogram) and finishes the result (luminance, swap); snapshots
 * are finished the same way.
 */
export async function stylize(
  styleImage: ImageInput | readonly ImageInput[],
  contentImage: ImageInput,
  options: StylizeOptions = {},
): Promise<[tf.Tensor3D, number]> {
  const {
    size = 512,
    step,
    init,
    onProgress,
    signal,
    resume,
    snapshotEvery,
    onSnapshot,
    checkpointEvery,
    onCheckpoint,
    ...rest
  } = options;
  const styleList = Array.isArray(styleImage) ? (styleImage as readonly ImageInput[]) : [styleImage as ImageInput];
  const settings = checkStylizeOptions(options, styleList.length);
  const { scales: sizes, iterations: counts } = settings;
  const log = options.log ?? ((line: string) => console.log(line));
  const single = sizes.length === 1;

  // The images the optimisation sees, after the colour preparation; all raw [h, w, 3], 0..255.
  const owned: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => (owned.push(t), t);
  let model: FeatureModel | null = options.model ?? null;
  let image: tf.Tensor3D | null = null;
  // The initial image at the current scale (null for noise or one scale): its detail starts the next scale.
  let base: tf.Tensor4D | null = null;
  let cost = NaN;
  try {
    const content = own(checkImage(contentImage, 'content_image'));
    const styles = styleList.map((s, i) =>
      own(checkImage(s, styleList.length > 1 ? `style_image ${i + 1}` : 'style_image')),
    );
    const initImage = init === undefined || typeof init === 'string' ? null : own(checkImage(init, 'init'));
    // Hashing full-size images costs time: only checkpoints and resumes need it.
    const inputs = resume || onCheckpoint ? fingerprint([content, ...styles, ...(initImage ? [initImage] : [])]) : '';
    if (resume && resume.inputs !== inputs)
      throw new RangeError('cannot resume: the checkpoint was made from other images');
    const colors = settings.preserveColors;
    const runContent = colors === 'luminance' ? own(luminance(content)) : content;
    const runStyles =
      colors === 'luminance'
        ? styles.map((s) => own(matchLuminance(s, content)))
        : colors === 'histogram'
          ? styles.map((s) => own(matchColorHistogram(s, content)))
          : styles;
    const runInit = initImage && colors === 'luminance' ? own(luminance(initImage)) : (initImage ?? init);

    // The result at any scale as the output: at `size`, with the content's colours where asked.
    const [h, w] = scaledSize(content.shape[0], content.shape[1], size);
    const colorSource =
      colors === 'luminance' || colors === 'swap'
        ? own(tf.tidy(() => tf.squeeze(scaleImage(content, size), [0]) as tf.Tensor3D))
        : null;
    const finish = (result: tf.Tensor3D): tf.Tensor3D =>
      tf.tidy(() => {
        const full =
          result.shape[0] === h && result.shape[1] === w
            ? result.clone()
            : tf.clipByValue(resizeBicubic(result, h, w), 0, 1);
        return colorSource ? withContentColors(full, colorSource) : full;
      });

    const names = options.imageNames ?? {
      content: 'content image',
      styles: styles.map((_, i) => (styles.length > 1 ? `style image ${i + 1}` : 'style image')),
    };
    model ??= await NST.loadFeatureModel(options.weights, options);
    const start = Date.now();
    const first = resume?.scale ?? 0;
    for (let k = first; k < sizes.length; k++) {
      const scaleSize = sizes[k]!;
      const before = counts.slice(0, k).reduce((a, b) => a + b, 0); // iterations of the earlier scales
      const nst = new NST(runStyles, runContent, { ...rest, size: scaleSize, model });
      try {
        const shapes: [string, readonly number[]][] = [
          [names.content, nst.contentImage.shape],
          ...nst.styleImages.map((s, i): [string, readonly number[]] => [names.styles[i]!, s.shape]),
        ];
        for (const [name, shape] of shapes) {
          if (Math.min(shape[1]!, shape[2]!) < model.minSide) {
            throw new InputError(
              `at the ${k === 0 ? 'first ' : ''}scale of ${scaleSize} px the ${name} is ${shape[2]}×${shape[1]} px: the features need at least ${model.minSide} px on each side (use fewer scales, a larger size or style scale)`,
            );
          }
        }
        nst.generateFeatures();
        if (!single && step !== undefined) log(`Scale ${k + 1}/${sizes.length}: ${scaleSize} px`);
        const previous: tf.Tensor3D | null = image;
        image = null;
        const previousBase = base;
        base = single || runInit === 'noise' ? null : nst.initialImage(runInit);
        const startImage = previous ? nextScaleStart(previous, previousBase, base) : runInit;
        previousBase?.dispose();
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
            resume: k === first ? resume?.state : undefined,
            onProgress: (event) => {
              if (!single && step !== undefined && (event.iteration % step === 0 || event.iteration === n))
                log(costLine(event.iteration, event.costs));
              return onProgress?.({
                ...event,
                elapsedMs: Date.now() - start,
                scale: { index: k + 1, count: sizes.length, size: scaleSize },
              });
            },
            onState: async (state, stopping) => {
              const iteration = before + state.iteration;
              const due = (every: number | undefined) =>
                every !== undefined && iteration > 0 && iteration % every === 0;
              if (onSnapshot && !stopping && due(snapshotEvery)) {
                const snapshot = finish(tf.squeeze(state.bestImage, [0]) as tf.Tensor3D);
                try {
                  await onSnapshot(snapshot, iteration);
                } finally {
                  snapshot.dispose();
                }
              }
              if (onCheckpoint && (stopping || due(checkpointEvery)))
                await onCheckpoint({ settings, inputs, scale: k, state });
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
    const last: tf.Tensor3D = image!;
    image = finish(last);
    last.dispose();
    return [image, cost];
  } catch (error) {
    image?.dispose();
    throw error;
  } finally {
    base?.dispose();
    tf.dispose(owned);
    if (!options.model) model?.dispose();
  }
}
