import * as tf from '@tensorflow/tfjs';
import { IMAGE_RULE, initialImage, toRawImage, type ImageInput, type InitImage } from './core/images.js';
import { scaleImage, styleSide } from './core/resize.js';
import { OPTIMIZER_NAMES, normaliseWeights, SETTINGS, type OptimizerName } from './core/settings.js';
import { PRESETS } from './core/presets.js';
import { InputError, named } from './errors.js';
import * as costs from './engine/tfjs/costs.js';
import { FeatureModel } from './engine/tfjs/features.js';
import * as objective from './engine/tfjs/objective.js';
import { modelOutputs, VGG19_CONV_NAMES, type Pooling } from './engine/vgg19.js';
import { ensureWeights } from './io/weights.js';
import { Adam } from './optim/adam.js';
import { LBFGS } from './optim/lbfgs.js';
import { optimize } from './optim/loop.js';
import type { Costs, LoopState, Optimizer, ProgressEvent } from './optim/types.js';

/**
 * The seed-compatible facade: the NST class of the exercise the tool comes from, with its names,
 * defaults, messages and return values, pinned by test/nst.test.ts. Its objective is computed
 * by TensorFlow.js (engine/tfjs/), as the exercise has it, and checked against the ONNX graph's
 * costs (test/engine/onnx.test.ts); the optimisers are the command's (optim/).
 */

export type { ImageInput, InitImage, OptimizerName };
export { OPTIMIZER_NAMES };

export interface NSTOptions {
  /** Weight of the content cost (default 1e4). */
  alpha?: number;
  /** Weight of the style cost (default 1). */
  beta?: number;
  /** Weight of the variational cost (default 10). */
  var?: number;
  /** Longest side of the working images in pixels (default 512). */
  size?: number;
  /** Path of the VGG19 weights file; else NST_WEIGHTS, the cache, or a download (see io/weights.ts). */
  weights?: string;
  /**
   * A loaded model to share between runs (see NST.loadFeatureModel); the NST instance then does not
   * dispose it. It must have the style and content layers as outputs and the same pooling.
   */
  model?: FeatureModel;
  /** Weights of the style images when there are several (normalised to sum 1; default equal). */
  styleWeights?: readonly number[];
  /** The style images are scaled to styleScale × size (longest side) before their features are taken (default 1). */
  styleScale?: number;
  /** VGG19 conv layers whose Gram matrices carry the style (default NST.styleLayers). */
  styleLayers?: readonly string[];
  /** VGG19 conv layers whose features carry the content; their costs are averaged (default [NST.contentLayer]). */
  contentLayers?: readonly string[];
  /** Weights of the style layers (normalised to sum 1; default equal, as the seed). */
  styleLayerWeights?: readonly number[];
  /** Pooling between VGG19's blocks: 'avg' (the seed's, default) or 'max' (the network's own). */
  pooling?: Pooling;
}

export interface GenerateOptions {
  /** Optimizer iterations (an L-BFGS iteration may evaluate the cost several times). */
  iterations?: number;
  /** Print the seed's cost line every `step` iterations and at the last one (to `log`). */
  step?: number;
  /** 'adam' (the seed's, default) or 'lbfgs' (bounded L-BFGS with a line search). */
  optimizer?: OptimizerName;
  /** Adam's learning rate and moment decays. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  /** L-BFGS: number of correction pairs kept (default 100). */
  history?: number;
  /** L-BFGS: relative tolerance of its stopping tests (default 1e-6; 0 runs every iteration). */
  tolerance?: number;
  init?: InitImage;
  /** Seed for the noise initialisation, so that runs are reproducible. */
  seed?: number;
  /** Called after every iteration (iteration 0 is the initial image), with the evaluations so far; awaited. */
  onProgress?: (event: ProgressEvent) => void | Promise<void>;
  /** Where the `step` lines go (default: stdout). */
  log?: (line: string) => void;
  /** Aborting ends the run between iterations; the best image so far is returned. */
  signal?: AbortSignal;
  /** The optimisation loop's state after every iteration, and at an abort (see `optimize`): for checkpoints. */
  onState?: (state: LoopState, stopping: boolean) => void | Promise<void>;
  /** Continue from a state given to `onState` (the same options must be given). */
  resume?: LoopState;
}

/** The exercise's optimisation: the seed preset, whatever the command's defaults become. */
const SEED = PRESETS.seed;

const isNumber = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);
const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const isRank4 = (x: unknown): x is tf.Tensor4D => x instanceof tf.Tensor && x.rank === 4;

/** The seed's progress line. */
export const costLine = (i: number, c: Costs) =>
  `Cost at iteration ${i}: ${c.total}, content ${c.content}, style ${c.style}, var ${c.variation}`;

/** An ImageInput as a new float32 tensor [h, w, 3]; the seed's TypeError (naming `name`) if it is not one. */
function checkImage(image: unknown, name: string): tf.Tensor3D {
  const raw = toRawImage(image);
  if (!raw) throw new TypeError(`${name} ${IMAGE_RULE}`);
  return raw;
}

function checkWeight(value: unknown, name: string): number {
  if (!isNumber(value) || value < 0 || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a non-negative number`);
  }
  return value;
}

/** The table's weights (normalised to sum 1, default equal), refused as test/nst.test.ts expects: a RangeError naming them. */
function checkWeights(
  weights: readonly number[] | undefined,
  count: number,
  setting: 'styleWeights' | 'styleLayerWeights',
  items: string,
): number[] {
  const label = setting === 'styleWeights' ? 'style weights' : 'style layer weights';
  // A list or nothing (equal), as the seed has it: the table's named layer weightings are not offered here.
  const problem = SETTINGS.styleWeights.check(weights);
  if (problem) throw new RangeError(named(label, problem));
  try {
    return normaliseWeights(weights, count, setting, items);
  } catch (error) {
    if (error instanceof InputError) throw new RangeError(named(label, error.detail.problem ?? error.message));
    throw error;
  }
}

/** A list of VGG19 conv layer names, checked. */
function checkLayers(layers: readonly string[], name: string): string[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new RangeError(`${name} must name at least one layer`);
  for (const layer of layers) {
    if (!VGG19_CONV_NAMES.includes(layer)) {
      throw new RangeError(`${name}: unknown layer ${layer}; use VGG19 conv layers block1_conv1 … block5_conv4`);
    }
  }
  if (new Set(layers).size !== layers.length) throw new RangeError(`${name} names a layer twice`);
  return [...layers];
}

/** A decay rate of Adam: the seed's type and range checks, then the settings table's (1 divides by zero). */
function checkDecay(value: unknown, name: 'beta1' | 'beta2'): number {
  if (!isNumber(value)) throw new TypeError(`${name} must be a float`);
  if (value < 0 || value > 1) throw new RangeError(`${name} must be in the range [0, 1]`);
  const problem = SETTINGS[name].check(value);
  if (problem) throw new RangeError(`${name} ${problem}`);
  return value;
}

/**
 * Neural style transfer as in Gatys et al.: the seed's NST class. Create it with `NST.create`, which
 * also loads the model and computes the style and content targets; then call `generateImage`.
 * Call `dispose` when done to release its tensors.
 */
export class NST {
  static readonly styleLayers: readonly string[] = SEED.styleLayers;
  static readonly contentLayer: string = SEED.contentLayers[0];

  /** Preprocessed images, [1, h, w, 3] in [0, 1]: the style images (each at styleScale × size) and the content. */
  readonly styleImages: tf.Tensor4D[];
  readonly contentImage: tf.Tensor4D;
  readonly alpha: number;
  readonly beta: number;
  readonly var: number;
  /** Normalised weights of the style images, of the style layers. */
  readonly styleWeights: number[];
  readonly styleLayerWeights: number[];
  readonly styleLayers: string[];
  readonly contentLayers: string[];
  readonly pooling: Pooling;
  model: FeatureModel | null = null;
  /** Per style layer: the blend Σ wᵢ·Gᵢ of the style images' Gram matrices. */
  gramStyleFeatures: tf.Tensor3D[] = [];
  /** Per content layer: the content image's features. */
  contentFeatures: tf.Tensor4D[] = [];

  private readonly weightsPath: string | undefined;
  private ownsModel = false;

  /** `styleImage` may be one image or a list of them (blended by `styleWeights`). */
  constructor(styleImage: ImageInput | readonly ImageInput[], contentImage: ImageInput, options: NSTOptions = {}) {
    const { size = SETTINGS.size.default, styleScale = SETTINGS.styleScale.default } = options;
    const pooling = options.pooling ?? SEED.pooling;
    const styleList = Array.isArray(styleImage) ? (styleImage as readonly ImageInput[]) : [styleImage as ImageInput];
    if (styleList.length === 0) throw new RangeError('at least one style image is needed');
    this.alpha = checkWeight(options.alpha ?? SEED.alpha, 'alpha');
    this.beta = checkWeight(options.beta ?? SEED.beta, 'beta');
    this.var = checkWeight(options.var ?? SEED.var, 'var');
    if (SETTINGS.styleScale.check(styleScale)) throw new RangeError('style scale must be a positive number');
    if (SETTINGS.pooling.check(pooling)) throw new RangeError('pooling must be avg or max');
    this.pooling = pooling;
    this.styleWeights = checkWeights(options.styleWeights, styleList.length, 'styleWeights', 'style image');
    this.styleLayers = checkLayers(options.styleLayers ?? NST.styleLayers, 'style layers');
    this.contentLayers = checkLayers(options.contentLayers ?? [NST.contentLayer], 'content layers');
    this.styleLayerWeights = checkWeights(
      options.styleLayerWeights,
      this.styleLayers.length,
      'styleLayerWeights',
      'style layer',
    );
    const styleSize = styleSide(size, styleScale);
    this.styleImages = [];
    try {
      styleList.forEach((image, i) => {
        const raw = checkImage(image, styleList.length > 1 ? `style_image ${i + 1}` : 'style_image');
        try {
          this.styleImages.push(NST.scaleImage(raw, styleSize));
        } finally {
          raw.dispose();
        }
      });
      const content = checkImage(contentImage, 'content_image');
      try {
        this.contentImage = NST.scaleImage(content, size);
      } finally {
        content.dispose();
      }
    } catch (error) {
      tf.dispose(this.styleImages);
      throw error;
    }
    this.weightsPath = options.weights;
    if (options.model) this.model = this.checkModel(options.model);
  }

  /** The (first) style image, [1, h, w, 3] in [0, 1]: the seed's attribute. */
  get styleImage(): tf.Tensor4D {
    return this.styleImages[0]!;
  }

  /** The (first) content layer's target: the seed's attribute. */
  get contentFeature(): tf.Tensor4D | null {
    return this.contentFeatures[0] ?? null;
  }

  /** Builds the instance, loads the model (unless one was given) and computes the targets. */
  static async create(
    styleImage: ImageInput | readonly ImageInput[],
    contentImage: ImageInput,
    options: NSTOptions = {},
  ): Promise<NST> {
    const nst = new NST(styleImage, contentImage, options);
    try {
      if (!nst.model) await nst.loadModel();
      nst.generateFeatures();
    } catch (error) {
      nst.dispose();
      throw error;
    }
    return nst;
  }

  /** Rescales an RGB image (values 0..255) so its longest side is `size`, to [1, h, w, 3] in [0, 1]. */
  static scaleImage(image: ImageInput, size = 512): tf.Tensor4D {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError('size must be a positive integer');
    const raw = checkImage(image, 'image');
    try {
      return scaleImage(raw, size);
    } finally {
      raw.dispose();
    }
  }

  /** VGG19 up to the deepest layer used, with this instance's layers as outputs and its pooling. */
  async loadModel(): Promise<void> {
    const model = await NST.loadFeatureModel(this.weightsPath, this);
    if (this.ownsModel) this.model?.dispose();
    this.model = model;
    this.ownsModel = true;
  }

  /**
   * The model NST uses, loaded from `weights` (or found as `ensureWeights` finds it), to share
   * between instances with the same layers and pooling (defaults: the seed's).
   */
  static async loadFeatureModel(
    weights?: string,
    layers: Pick<NSTOptions, 'styleLayers' | 'contentLayers' | 'pooling'> = {},
  ): Promise<FeatureModel> {
    const styleLayers = checkLayers(layers.styleLayers ?? NST.styleLayers, 'style layers');
    const contentLayers = checkLayers(layers.contentLayers ?? [NST.contentLayer], 'content layers');
    const location = await ensureWeights({ explicit: weights });
    return FeatureModel.load(location.path, modelOutputs(styleLayers, contentLayers), layers.pooling ?? 'avg');
  }

  /** A shared model must give this instance's layers with its pooling. */
  private checkModel(model: FeatureModel): FeatureModel {
    if (model.pooling !== this.pooling)
      throw new RangeError(`the model uses ${model.pooling} pooling, not ${this.pooling}`);
    const missing = [...this.styleLayers, ...this.contentLayers].find((name) => !model.outputNames.includes(name));
    if (missing) throw new RangeError(`the model has no output ${missing}`);
    return model;
  }

  static gramMatrix(inputLayer: tf.Tensor4D): tf.Tensor3D {
    if (!isRank4(inputLayer)) throw new TypeError('input_layer must be a tensor of rank 4');
    return costs.gramMatrix(inputLayer);
  }

  /** The engine's view of this instance's cost weights and layers. */
  private get objective() {
    return {
      alpha: this.alpha,
      beta: this.beta,
      variation: this.var,
      styleLayers: this.styleLayers,
      contentLayers: this.contentLayers,
      styleLayerWeights: this.styleLayerWeights,
      pooling: this.pooling,
    };
  }

  private get targets(): objective.Targets {
    return { style: this.gramStyleFeatures, content: this.contentFeatures };
  }

  /** The seed's name for computing the targets: per style layer the weighted blend of the style images' Gram matrices, and the content targets. */
  generateFeatures(): void {
    const images = { content: this.contentImage, styles: this.styleImages, styleWeights: this.styleWeights };
    const targets = objective.computeTargets(this.requireModel(), this.objective, images);
    this.disposeTargets();
    this.gramStyleFeatures = targets.style;
    this.contentFeatures = targets.content;
  }

  layerStyleCost(styleOutput: tf.Tensor4D, gramTarget: tf.Tensor3D): tf.Scalar {
    if (!isRank4(styleOutput)) throw new TypeError('style_output must be a tensor of rank 4');
    const c = styleOutput.shape[3];
    if (!(gramTarget instanceof tf.Tensor) || !sameShape(gramTarget.shape, [1, c, c])) {
      throw new TypeError(`gram_target must be a tensor of shape [1, ${c}, ${c}]`);
    }
    return costs.layerStyleCost(styleOutput, gramTarget);
  }

  /** The layer style costs weighted by the style layer weights (the seed: each 1 / number of layers). */
  styleCost(styleOutputs: tf.Tensor4D[]): tf.Scalar {
    const l = this.styleLayers.length;
    if (!Array.isArray(styleOutputs) || styleOutputs.length !== l) {
      throw new TypeError(`style_outputs must be a list with a length of ${l}`);
    }
    return tf.tidy(() => {
      const weighted = styleOutputs.map((output, i) =>
        tf.mul(this.layerStyleCost(output, this.gramStyleFeatures[i]!), this.styleLayerWeights[i]!),
      );
      return tf.addN(weighted) as tf.Scalar;
    });
  }

  contentCost(contentOutput: tf.Tensor4D): tf.Scalar {
    const target = this.requireTargets();
    if (!(contentOutput instanceof tf.Tensor) || !sameShape(contentOutput.shape, target.shape)) {
      throw new TypeError(`content_output must be a tensor of shape ${shapeText(target.shape)}`);
    }
    return costs.contentCost(contentOutput, target);
  }

  static variationalCost(generatedImage: tf.Tensor4D): tf.Scalar {
    if (!isRank4(generatedImage)) throw new TypeError('generated_image must be a tensor of rank 4');
    return costs.variationalCost(generatedImage);
  }

  /** [J, J_content, J_style, J_var] with J = α·J_content + β·J_style + var·J_var. */
  totalCost(generatedImage: tf.Tensor4D): [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar] {
    this.checkGenerated(generatedImage);
    return objective.totalCost(this.requireModel(), this.objective, this.targets, generatedImage);
  }

  /** [gradient of J w.r.t. the image, J, J_content, J_style, J_var]. */
  computeGrads(generatedImage: tf.Tensor4D): [tf.Tensor4D, tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar] {
    this.checkGenerated(generatedImage);
    return objective.computeGrads(this.requireModel(), this.objective, this.targets, generatedImage);
  }

  /**
   * Optimises the image with Adam (clipping to [0, 1] after each update) or L-BFGS (projected onto
   * [0, 1]), and returns the image with the lowest total cost ([h, w, 3] in [0, 1]) and that cost.
   */
  async generateImage(options: GenerateOptions = {}): Promise<[tf.Tensor3D, number]> {
    const { step, init = 'content', seed } = options;
    const algorithm = this.checkGenerateOptions(options);
    const iterations = options.iterations ?? SEED.iterations;
    this.requireTargets();
    const log = options.log ?? ((line: string) => console.log(line)); // the seed prints its lines
    let initial: tf.Tensor4D;
    try {
      initial = this.initialImage(init, seed);
    } catch (error) {
      algorithm.dispose();
      throw error;
    }
    const evaluator = new objective.TfjsEvaluator(this.requireModel(), this.objective, this.targets, false);
    try {
      const result = await optimize({
        initial,
        iterations,
        optimizer: algorithm,
        evaluate: (image) => evaluator.evaluate(image),
        shouldStop: () => options.signal?.aborted ?? false,
        onProgress: (event) => {
          const { iteration: i } = event;
          if (step !== undefined && (i % step === 0 || i === iterations)) log(costLine(i, event.costs));
          return options.onProgress?.(event);
        },
        onState: options.onState,
        resume: options.resume,
      });
      const best = tf.squeeze(result.bestImage, [0]) as tf.Tensor3D;
      result.bestImage.dispose();
      return [best, result.bestCost];
    } finally {
      initial.dispose();
    }
  }

  /** The seed's checks of generateImage's options, then the optimizer they ask for. */
  private checkGenerateOptions(options: GenerateOptions): Optimizer {
    const d = <K extends 'history' | 'tolerance'>(k: K) => SETTINGS[k].default;
    const { iterations = SEED.iterations, step, optimizer = SEED.optimizer, lr = SEED.lr } = options;
    const {
      beta1 = SEED.beta1,
      beta2 = SEED.beta2,
      history = d('history'),
      tolerance = d('tolerance'),
      seed,
    } = options;
    if (!Number.isInteger(iterations)) throw new TypeError('iterations must be an integer');
    if (iterations <= 0) throw new RangeError('iterations must be positive');
    if (step !== undefined && !Number.isInteger(step)) throw new TypeError('step must be an integer');
    if (step !== undefined && (step <= 0 || step >= iterations)) {
      throw new RangeError('step must be positive and less than iterations');
    }
    if (!OPTIMIZER_NAMES.includes(optimizer)) throw new RangeError(`optimizer must be ${OPTIMIZER_NAMES.join(' or ')}`);
    if (!isNumber(lr)) throw new TypeError('lr must be a number');
    if (lr <= 0 || !Number.isFinite(lr)) throw new RangeError('lr must be positive');
    checkDecay(beta1, 'beta1');
    checkDecay(beta2, 'beta2');
    if (!Number.isInteger(history)) throw new TypeError('history must be an integer');
    if (history <= 0) throw new RangeError('history must be positive');
    if (!isNumber(tolerance)) throw new TypeError('tolerance must be a number');
    if (tolerance < 0 || !Number.isFinite(tolerance)) throw new RangeError('tolerance must be a non-negative number');
    if (seed !== undefined && !Number.isInteger(seed)) throw new TypeError('seed must be an integer');
    return optimizer === 'lbfgs' ? new LBFGS(history, tolerance) : new Adam(lr, beta1, beta2);
  }

  /** The starting image, [1, h, w, 3] in [0, 1] at the content image's working size. */
  initialImage(init: InitImage = 'content', seed?: number): tf.Tensor4D {
    if (init === 'content' || init === 'noise' || init === 'style') {
      return initialImage(init, this.contentImage, this.styleImage, seed);
    }
    if (typeof init === 'string') throw new RangeError('init must be content, noise, style or an image');
    const raw = checkImage(init, 'init');
    try {
      return initialImage(raw, this.contentImage, this.styleImage);
    } finally {
      raw.dispose();
    }
  }

  /** Releases the images, the targets and (if this instance loaded it) the model. */
  dispose(): void {
    tf.dispose(this.styleImages);
    this.contentImage.dispose();
    this.disposeTargets();
    if (this.ownsModel) this.model?.dispose();
    this.model = null;
  }

  private checkGenerated(generatedImage: tf.Tensor4D): void {
    if (!(generatedImage instanceof tf.Tensor) || !sameShape(generatedImage.shape, this.contentImage.shape)) {
      throw new TypeError(`generated_image must be a tensor of shape ${shapeText(this.contentImage.shape)}`);
    }
  }

  private requireModel(): FeatureModel {
    if (!this.model) throw new Error('the model is not loaded: call loadModel() or use NST.create()');
    return this.model;
  }

  private requireTargets(): tf.Tensor4D {
    if (!this.contentFeature) {
      throw new Error('the targets are not computed: call generateFeatures() or use NST.create()');
    }
    return this.contentFeature;
  }

  private disposeTargets(): void {
    tf.dispose(this.gramStyleFeatures);
    tf.dispose(this.contentFeatures);
    this.gramStyleFeatures = [];
    this.contentFeatures = [];
  }
}
