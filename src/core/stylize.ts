/**
 * The library's driver: style transfer at one or several scales (coarse-to-fine). At each scale
 * the engine builds an evaluator from the style and content images at that size (so the style
 * targets are those of the style images at that scale), and the optimiser runs on it, starting
 * from the previous scale's best image (see nextScaleStart; the first scale starts from `init`).
 */
import * as tf from '@tensorflow/tfjs';
import type { Device, Engine, EngineName, Evaluator, Objective, TargetImages } from '../engine/evaluator.js';
import { createEngine } from '../engine/factory.js';
import { TiledEvaluator } from '../engine/tiled.js';
import { minSide, modelOutputs } from '../engine/vgg19.js';
import { InputError, settingError } from '../errors.js';
import { ensureWeights } from '../io/weights.js';
import { Adam } from '../optim/adam.js';
import { LBFGS } from '../optim/lbfgs.js';
import { averagedImage, optimize, resizeState } from '../optim/loop.js';
import type { LoopState, Optimizer, OptimizerState, ProgressEvent, StopReason } from '../optim/types.js';
import { memoryBudget, tileFor } from './memory.js';
import { luminance, matchColorHistogram, matchLuminance, withContentColors } from './color.js';
import { composite, greyMask, maskAt, regionsAt, softMask, type RunMasks } from './masks.js';
import { fingerprint } from '../engine/targets.js';
import { IMAGE_RULE, initialImage, nextScaleStart, toRawImage, type ImageInput, type InitImage } from './images.js';
import { resizeBicubic, scaledSize, scaleImage, styleSide } from './resize.js';
import { resolveRunSettings, SHAPING_NAMES, type RunOptions, type RunSettings } from './settings.js';

/**
 * A run's state at the end of an iteration, enough to continue it exactly (see StylizeOptions.resume).
 * `saveCheckpoint` / `loadCheckpoint` (checkpoint.ts) write and read it as a file.
 */
export interface Checkpoint {
  /** The settings that shape the result, resolved; a resumed run must have the same. */
  settings: RunSettings;
  /** SHA-256 of the input images' pixels (content, styles, init image), so a resume uses the same images. */
  inputs: string;
  /** The scale (0-based) the state belongs to. */
  scale: number;
  state: LoopState;
}

/** A progress report of `stylize`: the optimisation loop's, with the scale and the counts over the whole run. */
export interface StylizeProgress extends ProgressEvent {
  /** Which scale (1-based) of how many, its size in pixels, and the tiles it is evaluated in (1: whole). */
  scale: { index: number; count: number; size: number; tiles: number };
  /** Over all scales: the iteration, the iterations in all, the evaluations so far. */
  run: { iteration: number; iterations: number; evaluations: number };
}

/** Where an evaluation of a tiled scale is: tiles done of its two passes over the tiles (see engine/tiled.ts). */
export interface TileProgress {
  scale: StylizeProgress['scale'];
  done: number;
  total: number;
}

export interface StylizeOptions extends Omit<RunOptions, 'init' | 'styleMasks' | 'mask'> {
  /** The initial image (default 'content'). */
  init?: InitImage;
  /** One mask per style image (grey levels, any size): where in the output that style goes (masks.ts). */
  styleMasks?: readonly ImageInput[];
  /** Where the output is stylised (white); elsewhere it is the photo (`invertMask`: the reverse). */
  mask?: ImageInput;
  /** The engine to run on, shared between runs (the caller disposes it); else one is made for this run. */
  engine?: Engine;
  /** Without `engine`: which engine to make (default 'auto'), on which device (default 'auto'), its threads. */
  backend?: EngineName;
  device?: Device;
  threads?: number;
  /** Path of the VGG19 weights file; else NST_WEIGHTS, the cache, or a download (see io/weights.ts). */
  weights?: string;
  /** Aborting ends the run between iterations; the best image so far is returned. */
  signal?: AbortSignal;
  /** Called after every iteration (iteration 0 of a scale is its initial image); awaited. */
  onProgress?: (event: StylizeProgress) => void | Promise<void>;
  /** Called after each tile of an evaluation at a tiled scale (an evaluation there can take minutes). */
  onTile?: (event: TileProgress) => void;
  /** The output as it would be if the run stopped now ([h, w, 3] in [0, 1] at `size`, disposed after the call); awaited. */
  onSnapshot?: (image: tf.Tensor3D, iteration: number) => void | Promise<void>;
  /**
   * The best image so far as `onSnapshot` gets it, at most every `previewEveryMs` (default 3000)
   * milliseconds of the run: for a live view. Awaited, so the callback should only hand it on.
   */
  onPreview?: (image: tf.Tensor3D, iteration: number) => void | Promise<void>;
  previewEveryMs?: number;
  /** Call `onCheckpoint` every this many iterations (counted over all scales); it is also called when `signal` aborts. */
  checkpointEvery?: number;
  /** The run's state (borrowed for the call; awaited): save it with `saveCheckpoint`. */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
  /** Continue the run a checkpoint was taken from: same images and settings, same result as without the stop. */
  resume?: Checkpoint;
  /**
   * A video frame's temporal cost (Ruder et al.): weight × the mean of c·(x − x̃)², x̃ `target`
   * (the previous stylised frame warped onto this one, [h, w, 3] in [0, 1]) and c `weights`
   * ([h, w], where the warp can be trusted), both at the output's size and resized to each scale.
   * Still the caller's. A frame is evaluated whole: a scale that would need tiles is an InputError.
   */
  temporal?: TemporalTerm;
  /** How messages name the images (default `content image`, `style image` or `style image 1`, …). */
  imageNames?: { content: string; styles: readonly string[] };
}

/** The temporal cost of a video frame (StylizeOptions.temporal). */
export interface TemporalTerm {
  weight: number;
  target: tf.Tensor3D;
  weights: tf.Tensor2D;
}

/**
 * Checks the options of `stylize` for `styleCount` style images, as `stylize` does before any work:
 * an InputError names the first bad setting. Returns the resolved settings.
 */
export function checkStylizeOptions(
  options: Omit<StylizeOptions, 'init' | 'styleMasks' | 'mask'> & {
    init?: unknown;
    styleMasks?: unknown;
    mask?: unknown;
  },
  styleCount: number,
): RunSettings {
  const settings = resolveRunSettings(options, styleCount);
  const every = options.checkpointEvery;
  if (every !== undefined && !(Number.isInteger(every) && every > 0)) {
    throw settingError('checkpointEvery', 'must be a positive integer');
  }
  if (options.resume) checkResumeSettings(options.resume, settings);
  return settings;
}

/** Throws an InputError naming the first setting in which a checkpoint differs from this run. */
function checkResumeSettings(checkpoint: Checkpoint, settings: RunSettings): void {
  for (const key of SHAPING_NAMES.filter((name) => name in settings) as (keyof RunSettings)[]) {
    const [then, now] = [JSON.stringify(checkpoint.settings[key]), JSON.stringify(settings[key])];
    if (then !== now) {
      throw new InputError(`cannot resume: the checkpoint was made with ${key} ${then}, this run has ${now}`, {
        setting: key,
      });
    }
  }
}

/** The images of a run after the colour preparation, and how its result becomes the output. */
interface Prepared {
  settings: RunSettings;
  /** Raw [h, w, 3], 0..255: what the optimisation sees. */
  content: tf.Tensor3D;
  styles: tf.Tensor3D[];
  init: 'content' | 'noise' | 'style' | tf.Tensor3D;
  /** The masks, grey, at the size given. */
  masks: RunMasks;
  /** SHA-256 of the inputs, for checkpoints ('' when none are taken). */
  inputs: string;
  names: { content: string; styles: readonly string[] };
  /** The result at any scale as the output: at `size`, with the content's colours where asked. */
  finish: (result: tf.Tensor3D) => tf.Tensor3D;
  /** When onPreview was last called (ms since the epoch; 0: not yet). */
  previewAt: number;
  dispose: () => void;
}

function rawImage(image: unknown, name: string): tf.Tensor3D {
  const raw = toRawImage(image);
  if (!raw) throw new InputError(`${name} ${IMAGE_RULE}`);
  return raw;
}

/** Checks and converts the images, prepares their colours (preserveColors) and the output's finish. */
function prepare(
  styleList: readonly ImageInput[],
  contentImage: ImageInput,
  options: StylizeOptions,
  settings: RunSettings,
): Prepared {
  const owned: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => (owned.push(t), t);
  try {
    const content = own(rawImage(contentImage, 'content_image'));
    const styles = styleList.map((s, i) =>
      own(rawImage(s, styleList.length > 1 ? `style_image ${i + 1}` : 'style_image')),
    );
    const init = options.init ?? 'content';
    const initImage = typeof init === 'string' ? null : own(rawImage(init, 'init'));
    const maskOf = (image: ImageInput, name: string) => {
      const raw = rawImage(image, name);
      const grey = own(greyMask(raw));
      raw.dispose();
      return grey;
    };
    const subject = options.mask === undefined ? null : maskOf(options.mask, 'mask');
    const masks: RunMasks = {
      style: options.styleMasks?.map((m, i) => maskOf(m, `style mask ${i + 1}`)) ?? null,
      subject: subject && settings.invertMask ? own(tf.tidy(() => tf.sub(1, subject) as tf.Tensor2D)) : subject,
    };
    const maskImages = [...(masks.style ?? []), ...(subject ? [subject] : [])];
    if (typeof init === 'string' && !['content', 'noise', 'style'].includes(init)) {
      throw settingError('init', 'must be content, noise, style or an image');
    }
    // Hashing full-size images costs time: only checkpoints and resumes need it.
    const inputs =
      options.resume || options.onCheckpoint
        ? fingerprint([content, ...styles, ...(initImage ? [initImage] : []), ...maskImages])
        : '';
    if (options.resume && options.resume.inputs !== inputs) {
      throw new InputError('cannot resume: the checkpoint was made from other images');
    }
    const colors = settings.preserveColors;
    const [h, w] = scaledSize(content.shape[0], content.shape[1], settings.size);
    const keepChroma = colors === 'luminance' || colors === 'swap';
    const photo =
      keepChroma || masks.subject ? own(tf.tidy(() => tf.squeeze(scaleImage(content, settings.size), [0]))) : null;
    const soft = masks.subject ? own(softMask(masks.subject, h, w)) : null;
    const finish = (result: tf.Tensor3D): tf.Tensor3D =>
      tf.tidy(() => {
        const same = result.shape[0] === h && result.shape[1] === w;
        const full = same ? result.clone() : tf.clipByValue(resizeBicubic(result, h, w), 0, 1);
        const colored = keepChroma ? withContentColors(full, photo as tf.Tensor3D) : full;
        // Outside the subject mask the output is the photo, through a soft edge.
        return soft ? composite(colored, photo as tf.Tensor3D, soft) : colored;
      });
    const prepareStyle = (s: tf.Tensor3D) =>
      colors === 'luminance'
        ? own(matchLuminance(s, content))
        : colors === 'histogram'
          ? own(matchColorHistogram(s, content))
          : s;
    return {
      settings,
      content: colors === 'luminance' ? own(luminance(content)) : content,
      styles: styles.map(prepareStyle),
      init: initImage ? (colors === 'luminance' ? own(luminance(initImage)) : initImage) : (init as 'content'),
      masks,
      inputs,
      names: options.imageNames ?? {
        content: 'content image',
        styles: styles.map((_, i) => (styles.length > 1 ? `style image ${i + 1}` : 'style image')),
      },
      finish,
      previewAt: 0,
      dispose: () => tf.dispose(owned),
    };
  } catch (error) {
    tf.dispose(owned);
    throw error;
  }
}

/** The objective of the settings, as the engines take it. */
function objectiveOf(settings: RunSettings): Objective {
  return {
    alpha: settings.alpha,
    beta: settings.beta,
    variation: settings.var,
    styleLayers: settings.styleLayers,
    contentLayers: settings.contentLayers,
    styleLayerWeights: settings.styleLayerWeights,
    pooling: settings.pooling,
    styleLoss: settings.styleLoss,
  };
}

function optimizerOf(settings: RunSettings, engine: Engine): Optimizer {
  return settings.optimizer === 'lbfgs'
    ? new LBFGS(settings.history, settings.tolerance, undefined, engine.lbfgs)
    : new Adam(settings.lr, settings.beta1, settings.beta2, undefined, engine.adam);
}

/** One scale's working images: the content and the styles scaled, checked against the layers' smallest side. */
function scaleImages(run: Prepared, k: number): { content: tf.Tensor4D; styles: tf.Tensor4D[] } {
  const { settings, names } = run;
  const size = settings.scales[k]!;
  const styleSize = styleSide(size, settings.styleScale);
  const content = scaleImage(run.content, size);
  const styles: tf.Tensor4D[] = [];
  try {
    for (const style of run.styles) styles.push(scaleImage(style, styleSize));
    const smallest = minSide(modelOutputs(settings.styleLayers, settings.contentLayers).at(-1)!);
    const images: [string, tf.Tensor4D][] = [
      [names.content, content],
      ...styles.map((s, i): [string, tf.Tensor4D] => [names.styles[i]!, s]),
    ];
    for (const [name, image] of images) {
      const [, ih, iw] = image.shape;
      if (Math.min(ih, iw) >= smallest) continue;
      throw new InputError(
        `at the ${k === 0 ? 'first ' : ''}scale of ${size} px the ${name} is ${iw}×${ih} px: the features need at least ${smallest} px on each side (use fewer scales, a larger size or style scale)`,
        { setting: 'scales' },
      );
    }
    return { content, styles };
  } catch (error) {
    tf.dispose([content, ...styles]);
    throw error;
  }
}

/** The evaluator of a scale, with the masks' regions at its size (masks.ts). */
async function scaleEvaluator(
  engine: Engine,
  run: Prepared,
  { maxMemory, temporal: temporalTerm }: StylizeOptions,
  images: { content: tf.Tensor4D; styles: tf.Tensor4D[] },
): Promise<{ evaluator: Evaluator; tiles: number }> {
  const { settings } = run;
  const [, height, width] = images.content.shape;
  const regions = regionsAt(run.masks, height, width);
  const temporal = temporalAt(temporalTerm, height, width);
  const objective = { ...objectiveOf(settings), ...(temporalTerm ? { temporal: temporalTerm.weight } : {}) };
  try {
    const targets = {
      ...images,
      styleWeights: settings.styleWeights,
      ...(regions ? { regions } : {}),
      ...(temporal ? { temporal } : {}),
    };
    return await evaluatorOf(engine, settings, maxMemory, objective, targets);
  } finally {
    // The evaluator has copied them.
    if (regions) tf.dispose([...regions.masks]);
    if (temporal) tf.dispose([temporal.target, temporal.weights]);
  }
}

/** A temporal term's target and weights at a scale of [h, w] (new tensors), or null without one. */
function temporalAt(term: TemporalTerm | undefined, h: number, w: number) {
  if (!term) return null;
  return tf.tidy(() => ({
    target: tf.clipByValue(tf.image.resizeBilinear(tf.expandDims(term.target, 0) as tf.Tensor4D, [h, w]), 0, 1),
    weights: maskAt(term.weights, h, w),
  })) as { target: tf.Tensor4D; weights: tf.Tensor2D };
}

/**
 * The evaluator of the targets' size: of the whole image, or tile by tile (engine/tiled.ts) when
 * `settings.tileSize` asks for it or when the whole would not fit in the memory budget
 * (`maxMemory`, else what the system has: see core/memory.ts tileFor).
 */
async function evaluatorOf(
  engine: Engine,
  settings: RunSettings,
  maxMemory: number | undefined,
  objective: Objective,
  targets: TargetImages,
): Promise<{ evaluator: Evaluator; tiles: number }> {
  const [, height, width] = targets.content.shape;
  const run = {
    height,
    width,
    styleSizes: targets.styles.map((s) => [s.shape[1], s.shape[2]] as const),
    deepestLayer: modelOutputs(settings.styleLayers, settings.contentLayers).at(-1),
    optimizer: settings.optimizer,
    history: settings.history,
  };
  const tile = tileFor(run, engine.memory, memoryBudget(engine.memory, maxMemory), settings.tileSize ?? undefined);
  if (tile === undefined) return { evaluator: await engine.createEvaluator(objective, targets), tiles: 1 };
  if (objective.temporal !== undefined) {
    throw new InputError(
      `a video frame of ${width}×${height} px would be evaluated in tiles, which the temporal cost is not: use a smaller size or a larger maxMemory`,
      { setting: 'size', names: ['size', 'maxMemory'] },
    );
  }
  const tiled = await TiledEvaluator.create(engine, objective, targets, tile);
  return { evaluator: tiled, tiles: tiled.tileCount };
}

/** How a run went: why it ended, and how each scale ended. */
export interface StylizeSummary {
  /** Why the run ended: its last scale's reason, or 'interrupted' when `signal` ended it. */
  reason: StopReason;
  /** Iterations and evaluations over the scales run (a resumed scale counts from its start). */
  iterations: number;
  evaluations: number;
  scales: { size: number; iterations: number; reason: StopReason }[];
}

/** What the scales hand on: the best image so far (raw [h, w, 3] in [0, 1]), its cost and its scale's start. */
interface ScaleResult {
  image: tf.Tensor3D;
  cost: number;
  /** The initial image at this scale (null for noise or one scale): its detail starts the next scale. */
  base: tf.Tensor4D | null;
  evaluations: number;
  iterations: number;
  reason: StopReason;
  /** With carryMoments: the optimizer's final state, resized to start the next scale's. */
  optimizerState: OptimizerState | null;
}

/** Releases what a scale hands on. */
const disposeScaleResult = (r: ScaleResult) =>
  tf.dispose([r.image, ...(r.base ? [r.base] : []), ...Object.values(r.optimizerState?.tensors ?? {})]);

/** The optimizer of a scale: new, or with carryMoments starting from the previous scale's state resized. */
function scaleOptimizer(
  settings: RunSettings,
  engine: Engine,
  previous: ScaleResult | null,
  [h, w]: readonly [number, number],
) {
  const optimizer = optimizerOf(settings, engine);
  if (settings.carryMoments && previous?.optimizerState) {
    const carried = resizeState(previous.optimizerState, h, w);
    optimizer.setState(carried);
    tf.dispose(Object.values(carried.tensors));
  }
  return optimizer;
}

/** Runs scale `k` from the previous scale's result (or the initial image). */
async function runScale(
  run: Prepared,
  engine: Engine,
  k: number,
  previous: ScaleResult | null,
  options: StylizeOptions,
  start: number,
): Promise<ScaleResult> {
  const { settings } = run;
  const { scales: sizes, iterations: counts } = settings;
  const images = scaleImages(run, k);
  let evaluator: Evaluator | null = null;
  let base: tf.Tensor4D | null = null;
  let first: tf.Tensor4D | null = null;
  try {
    const made = await scaleEvaluator(engine, run, options, images);
    evaluator = made.evaluator;
    base =
      sizes.length === 1 || run.init === 'noise' ? null : initialImage(run.init, images.content, images.styles[0]!);
    first = previous
      ? tf.tidy(() =>
          initialImage(nextScaleStart(previous.image, previous.base, base), images.content, images.styles[0]!),
        )
      : initialImage(run.init, images.content, images.styles[0]!, settings.seed ?? undefined);
    const before = counts.slice(0, k).reduce((a, b) => a + b, 0); // iterations of the earlier scales
    const total = counts.reduce((a, b) => a + b, 0);
    const earlier = previous?.evaluations ?? 0;
    const scale = { index: k + 1, count: sizes.length, size: sizes[k]!, tiles: made.tiles };
    if (made.evaluator instanceof TiledEvaluator && options.onTile) {
      const onTile = options.onTile;
      made.evaluator.onTile = (done, total) => onTile({ scale, done, total });
    }
    // The targets are in the evaluator and the start is made: the scaled images are not needed any more.
    const [, height, width] = images.content.shape;
    tf.dispose([images.content, ...images.styles]);
    const resume = k === (options.resume?.scale ?? 0) ? options.resume?.state : undefined;
    if (k === (options.resume?.scale ?? 0)) await checkWeights(evaluator, settings, run.content.shape, [height, width]);
    let evaluations = earlier;
    const running = optimize({
      initial: first,
      iterations: counts[k]!,
      optimizer: scaleOptimizer(settings, engine, previous, [height, width]),
      keepState: settings.carryMoments && k < sizes.length - 1,
      evaluate: (image) => evaluator!.evaluate(image),
      shouldStop: () => options.signal?.aborted ?? false,
      onProgress: (event) => {
        evaluations = earlier + event.evaluations;
        const overall = { iteration: before + event.iteration, iterations: total, evaluations };
        return options.onProgress?.({ ...event, elapsedMs: Date.now() - start, scale, run: overall });
      },
      onState: (state, stopping) => saveState(run, options, k, before + state.iteration, state, stopping),
      resume,
      convergence: { window: settings.convergenceWindow, threshold: settings.convergence },
      average: settings.average,
    });
    // optimize has copied the start (OptimizeOptions.initial): one image-sized tensor less during the run.
    first.dispose();
    const result = await running;
    const image = tf.tidy(() => tf.squeeze(result.bestImage, [0]) as tf.Tensor3D);
    result.bestImage.dispose();
    const out: ScaleResult = {
      image,
      cost: result.bestCost,
      base,
      evaluations: earlier + result.evaluations,
      iterations: result.iterations,
      reason: result.reason,
      optimizerState: result.optimizerState ?? null,
    };
    base = null; // handed on
    return out;
  } finally {
    evaluator?.dispose();
    tf.dispose([images.content, ...images.styles]);
    first?.dispose();
    base?.dispose();
  }
}

/** The largest finite float32, what the engines compute the costs in. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Before the first iteration: each cost weight times a bound of its cost must stay within float32
 * (with room for the sum of the three), or the run would end on an infinite cost. The variation
 * cost of an image in [0, 1] is at most 3·((h−1)·w + h·(w−1)) at the final size. The content and
 * style costs have no useful bound of their own (one from the network's weights is some 10³⁰ too
 * loose), so a generous one is measured: four times their value at a flat mid-grey image, as far
 * from both targets as the images of a run get. An InputError names the weight and its largest value.
 */
async function checkWeights(
  evaluator: Evaluator,
  settings: RunSettings,
  contentShape: readonly number[],
  [height, width]: readonly [number, number],
): Promise<void> {
  const probe = tf.fill([1, height, width, 3], 0.5) as tf.Tensor4D;
  let costs: { content: number; style: number };
  try {
    const evaluation = await evaluator.evaluate(probe);
    evaluation.gradient.dispose();
    costs = evaluation.costs;
  } finally {
    probe.dispose();
  }
  const [h, w] = scaledSize(contentShape[0]!, contentShape[1]!, settings.size);
  const terms: [string, number, string, number][] = [
    ['alpha', settings.alpha, 'content', 4 * costs.content],
    ['beta', settings.beta, 'style', 4 * costs.style],
    ['var', settings.var, 'variation', 3 * ((h - 1) * w + h * (w - 1))],
  ];
  for (const [name, weight, what, bound] of terms) {
    if (Number.isFinite(Math.fround(weight)) && weight * bound < FLOAT32_MAX / 4) continue;
    const most = bound > 0 ? `; use at most ${(FLOAT32_MAX / 4 / bound).toExponential(1)}` : '';
    throw settingError(
      name,
      `is too large: ${name} × the ${what} cost (up to about ${bound.toExponential(2)}) overflows float32${most}`,
    );
  }
}

/** Snapshots and checkpoints at iteration `iteration` over all scales (see StylizeOptions). */
async function saveState(
  run: Prepared,
  options: StylizeOptions,
  k: number,
  iteration: number,
  state: LoopState,
  stopping: boolean,
): Promise<void> {
  const due = (every: number | undefined) => every !== undefined && iteration > 0 && iteration % every === 0;
  const show = async (to: (image: tf.Tensor3D, iteration: number) => void | Promise<void>) => {
    // With iterate averaging the output is the average, as the scale's result will be.
    const image = tf.tidy(() =>
      run.finish(tf.squeeze(state.average ? averagedImage(state.average) : state.bestImage, [0]) as tf.Tensor3D),
    );
    try {
      await to(image, iteration);
    } finally {
      image.dispose();
    }
  };
  if (options.onSnapshot && !stopping && due(options.snapshotEvery)) await show(options.onSnapshot);
  if (options.onPreview && Date.now() - run.previewAt >= (options.previewEveryMs ?? 3000)) {
    run.previewAt = Date.now();
    await show(options.onPreview);
  }
  if (options.onCheckpoint && (stopping || due(options.checkpointEvery))) {
    await options.onCheckpoint({ settings: run.settings, inputs: run.inputs, scale: k, state });
  }
}

/** The engine of a run: the caller's, or one made (and later disposed) for it. */
async function runEngine(options: StylizeOptions): Promise<Engine> {
  if (options.engine) return options.engine;
  const weights = await ensureWeights({ explicit: options.weights });
  const { backend: engine, device, threads } = options;
  return createEngine({ engine, device, threads, weights: weights.path });
}

/**
 * Style transfer at the scales of `options.scales`. Returns the best image of the last scale,
 * [h, w, 3] in [0, 1] at `size`, its cost, and how the run went (why it ended). Without options
 * it is the tuned default run of the settings table (L-BFGS, coarse-to-fine, ending each scale
 * when the cost stops falling); `preset: 'seed'` is the exercise's Adam run. Progress events carry the scale and the counts over
 * the whole run; their `elapsedMs` counts from the start of the whole run. If `signal` aborts, the
 * best image so far is upsampled to the final size and returned with the cost it had at its own
 * scale. `styleImage` may be a list of images, blended by `styleWeights`. `preserveColors`
 * prepares the images before the run (luminance, histogram) and finishes the result (luminance,
 * swap); snapshots are finished the same way.
 */
export async function stylize(
  styleImage: ImageInput | readonly ImageInput[],
  contentImage: ImageInput,
  options: StylizeOptions = {},
): Promise<[tf.Tensor3D, number, StylizeSummary]> {
  const styleList = Array.isArray(styleImage) ? (styleImage as readonly ImageInput[]) : [styleImage as ImageInput];
  if (styleList.length === 0) throw new InputError('at least one style image is needed');
  const settings = checkStylizeOptions(options, styleList.length);
  const run = prepare(styleList, contentImage, options, settings);
  let engine: Engine | null = null;
  let result: ScaleResult | null = null;
  const scales: StylizeSummary['scales'] = [];
  try {
    engine = await runEngine(options);
    const start = Date.now();
    for (let k = options.resume?.scale ?? 0; k < settings.scales.length; k++) {
      const next = await runScale(run, engine, k, result, options, start);
      if (result) disposeScaleResult(result);
      result = next;
      scales.push({ size: settings.scales[k]!, iterations: next.iterations, reason: next.reason });
      if (options.signal?.aborted) break;
    }
    const summary: StylizeSummary = {
      reason: options.signal?.aborted ? 'interrupted' : result!.reason,
      iterations: scales.reduce((a, s) => a + s.iterations, 0),
      evaluations: result!.evaluations,
      scales,
    };
    return [run.finish(result!.image), result!.cost, summary];
  } finally {
    if (result) disposeScaleResult(result);
    run.dispose();
    if (engine && !options.engine) engine.dispose();
  }
}
