import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import * as costs from './engine/tfjs/costs.js';
import { FeatureModel, VGG19_CONV_NAMES, type Pooling } from './engine/tfjs/features.js';
import {
  Adam,
  LBFGS,
  optimize,
  type Costs,
  type LoopState,
  type Optimizer,
  type ProgressEvent,
} from './optim/optimizer.js';
import { resizeBicubic, scaleImage, vggPreprocess } from './io/images.js';
import { ensureWeights } from './io/weights.js';

/**
 * An image as the library takes it: a tf.Tensor3D or a plain `{ data, shape }` object, shape
 * [h, w, 3], RGB values 0..255 (what readImage returns, or an array from any decoder).
 */
export type ImageInput = tf.Tensor3D | { data: ArrayLike<number>; shape: readonly number[] };

export interface NSTOptions {
  /** Weight of the content cost (default 1e4). */
  alpha?: number;
  /** Weight of the style cost (default 1). */
  beta?: number;
  /** Weight of the variational cost (default 10). */
  var?: number;
  /** Longest side of the working images in pixels (default 512). */
  size?: number;
  /** Path of the VGG19 weights file; else NST_WEIGHTS, the cache, or a download (see weights.ts). */
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
  /**
   * Gram matrices of style images already computed, to reuse across instances (a batch over many
   * contents with the same style). Keyed by the scaled style image's pixels, the style layers and
   * the pooling; filled as styles are seen. The cache owns its tensors: `disposeStyleCache` frees them.
   */
  styleCache?: StyleCache;
}

/** See NSTOptions.styleCache. */
export type StyleCache = Map<string, tf.Tensor3D[]>;

export function disposeStyleCache(cache: StyleCache): void {
  for (const grams of cache.values()) tf.dispose(grams);
  cache.clear();
}

export type OptimizerName = 'adam' | 'lbfgs';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'lbfgs'];

/**
 * The initial image: the content image (the seed's choice), uniform noise, the style image
 * stretched to the working size, or any image (values 0..255, any size, stretched bicubically to
 * the working size).
 */
export type InitImage = 'content' | 'noise' | 'style' | ImageInput;

export interface GenerateOptions {
  /** Optimizer iterations (an L-BFGS iteration may evaluate the cost several times). */
  iterations?: number;
  /** Print the seed's cost line every `step` iterations and at the last one. */
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

const isNumber = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);
const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const isRank4 = (x: unknown): x is tf.Tensor4D => x instanceof tf.Tensor && x.rank === 4;

/** The seed's progress line. */
export const costLine = (i: number, c: Costs) =>
  `Cost at iteration ${i}: ${c.total}, content ${c.content}, style ${c.style}, var ${c.variation}`;

/** SHA-256 of tensors' shapes and values: equal for equal images. */
export function fingerprint(images: readonly tf.Tensor[]): string {
  const hash = createHash('sha256');
  for (const image of images) {
    const data = image.dataSync() as Float32Array;
    hash.update(image.shape.join('x'));
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** An ImageInput as a new float32 tensor [h, w, 3]; a TypeError (naming `name`) if it is not one. */
export function checkImage(image: unknown, name: string): tf.Tensor3D {
  const message = `${name} must be an array or tensor with shape (h, w, 3)`;
  if (image instanceof tf.Tensor) {
    if (image.rank !== 3 || image.shape[2] !== 3 || image.size === 0) throw new TypeError(message);
    return tf.cast(image as tf.Tensor3D, 'float32');
  }
  const candidate = image as { data?: ArrayLike<number>; shape?: readonly number[] } | null;
  const shape = candidate?.shape;
  const data = candidate?.data;
  if (
    !Array.isArray(shape) ||
    shape.length !== 3 ||
    shape[2] !== 3 ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new TypeError(message);
  }
  if (data == null || typeof data.length !== 'number' || data.length !== shape[0] * shape[1] * 3)
    throw new TypeError(message);
  return tf.tensor3d(Array.from(data), shape as [number, number, number], 'float32');
}

function checkWeight(value: unknown, name: string): number {
  if (!isNumber(value) || value < 0 || !Number.isFinite(value))
    throw new TypeError(`${name} must be a non-negative number`);
  return value;
}

/** Non-negative weights, one per item, not all zero, normalised to sum 1 (default: equal). */
export function normaliseWeights(
  weights: readonly number[] | undefined,
  count: number,
  name: string,
  items: string,
): number[] {
  if (weights === undefined) return Array<number>(count).fill(1 / count);
  if (!Array.isArray(weights) || weights.length !== count)
    throw new RangeError(`${name} must have one weight per ${items} (${count})`);
  if (!weights.every((w) => isNumber(w) && w >= 0 && Number.isFinite(w)))
    throw new RangeError(`${name} must be non-negative numbers`);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new RangeError(`${name} must not all be zero`);
  return weights.map((w) => w / sum);
}

/** A list of VGG19 conv layer names, checked. */
export function checkLayers(layers: readonly string[], name: string): string[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new RangeError(`${name} must name at least one layer`);
  for (const layer of layers) {
    if (!VGG19_CONV_NAMES.includes(layer))
      throw new RangeError(`${name}: unknown layer ${layer}; use VGG19 conv layers block1_conv1 … block5_conv4`);
  }
  if (new Set(layers).size !== layers.length) throw new RangeError(`${name} names a layer twice`);
  return [...layers];
}

/** The model's outputs for these layers: each layer once, in the network's order. */
export function modelOutputs(styleLayers: readonly string[], contentLayers: readonly string[]): string[] {
  return VGG19_CONV_NAMES.filter((name) => styleLayers.includes(name) || contentLayers.includes(name));
}

/**
 * Neural style transfer as in Gatys et al.: the seed's NST class. Create it with `NST.create`, which
 * also loads the model and computes the style and content targets; then call `generateImage`.
 * Call `dispose` when done to release its tensors.
 */
export class NST {
  static readonly styleLayers: readonly string[] = [
    'block1_conv1',
    'block2_conv1',
    'block3_conv1',
    'block4_conv1',
    'block5_conv1',
  ];
  static readonly contentLayer = 'block5_conv2';

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
  private readonly styleCache: StyleCache | undefined;
  private ownsModel = false;

  /** `styleImage` may be one image or a list of them (blended by `styleWeights`). */
  constructor(styleImage: ImageInput | readonly ImageInput[], contentImage: ImageInput, options: NSTOptions = {}) {
    const { alpha = 1e4, beta = 1, var: variation = 10, size = 512, styleScale = 1, pooling = 'avg' } = options;
    const styleList = Array.isArray(styleImage) ? (styleImage as readonly ImageInput[]) : [styleImage as ImageInput];
    if (styleList.length === 0) throw new RangeError('at least one style image is needed');
    this.alpha = checkWeight(alpha, 'alpha');
    this.beta = checkWeight(beta, 'beta');
    this.var = checkWeight(variation, 'var');
    if (!isNumber(styleScale) || styleScale <= 0 || !Number.isFinite(styleScale))
      throw new RangeError('style scale must be a positive number');
    if (pooling !== 'avg' && pooling !== 'max') throw new RangeError('pooling must be avg or max');
    this.pooling = pooling;
    this.styleWeights = normaliseWeights(options.styleWeights, styleList.length, 'style weights', 'style image');
    this.styleLayers = checkLayers(options.styleLayers ?? NST.styleLayers, 'style layers');
    this.contentLayers = checkLayers(options.contentLayers ?? [NST.contentLayer], 'content layers');
    this.styleLayerWeights = normaliseWeights(
      options.styleLayerWeights,
      this.styleLayers.length,
      'style layer weights',
      'style layer',
    );
    const styleSize = Math.max(1, Math.round(styleScale * size));
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
    this.styleCache = options.styleCache;
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

  /** The outputs of `apply` picked by layer name. */
  private pick(outputs: tf.Tensor4D[], layers: readonly string[]): tf.Tensor4D[] {
    const names = this.requireModel().outputNames;
    return layers.map((name) => outputs[names.indexOf(name)]!);
  }

  static gramMatrix(inputLayer: tf.Tensor4D): tf.Tensor3D {
    if (!isRank4(inputLayer)) throw new TypeError('input_layer must be a tensor of rank 4');
    return costs.gramMatrix(inputLayer);
  }

  /** The style targets (per layer, the weighted blend of the style images' Gram matrices) and the content targets. */
  generateFeatures(): void {
    const model = this.requireModel();
    let grams: tf.Tensor3D[] = [];
    try {
      this.styleImages.forEach((image, i) => {
        const weight = this.styleWeights[i]!;
        const own = this.styleGrams(image);
        const next = tf.tidy(() =>
          own.map((gram, l) => {
            const g = tf.mul(gram, weight) as tf.Tensor3D;
            return grams[l] ? (tf.add(grams[l]!, g) as tf.Tensor3D) : g;
          }),
        );
        if (!this.styleCache) tf.dispose(own);
        tf.dispose(grams);
        grams = next;
      });
    } catch (error) {
      tf.dispose(grams);
      throw error;
    }
    const content = tf.tidy(() => this.pick(model.apply(vggPreprocess(this.contentImage)), this.contentLayers));
    this.disposeTargets();
    this.gramStyleFeatures = grams;
    this.contentFeatures = content;
  }

  layerStyleCost(styleOutput: tf.Tensor4D, gramTarget: tf.Tensor3D): tf.Scalar {
    if (!isRank4(styleOutput)) throw new TypeError('style_output must be a tensor of rank 4');
    const c = styleOutput.shape[3];
    if (!(gramTarget instanceof tf.Tensor) || !sameShape(gramTarget.shape, [1, c, c])) {
      throw new TypeError(`gram_target must be a tensor of shape [1, ${c}, ${c}]`);
    }
    return costs.layerStyleCost(styleOutput, gramTarget);
  }

  /** The Gram matrices of one style image at the style layers: from the cache when there is one (then the cache's). */
  private styleGrams(image: tf.Tensor4D): tf.Tensor3D[] {
    const model = this.requireModel();
    const compute = () =>
      tf.tidy(() => this.pick(model.apply(vggPreprocess(image)), this.styleLayers).map((f) => costs.gramMatrix(f)));
    if (!this.styleCache) return compute();
    const key = `${fingerprint([image])} ${this.styleLayers.join(',')} ${this.pooling}`;
    let grams = this.styleCache.get(key);
    if (!grams) this.styleCache.set(key, (grams = compute()));
    return grams;
  }

  /** The layer style costs weighted by the style layer weights (the seed: each 1 / number of layers). */
  styleCost(styleOutputs: tf.Tensor4D[]): tf.Scalar {
    const l = this.styleLayers.length;
    if (!Array.isArray(styleOutputs) || styleOutputs.length !== l)
      throw new TypeError(`style_outputs must be a list with a length of ${l}`);
    return tf.tidy(
      () =>
        tf.addN(
          styleOutputs.map((output, i) =>
            tf.mul(this.layerStyleCost(output, this.gramStyleFeatures[i]!), this.styleLayerWeights[i]!),
          ),
        ) as tf.Scalar,
    );
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
    const model = this.requireModel();
    return tf.tidy(() => {
      const outputs = model.apply(vggPreprocess(generatedImage));
      const jStyle = this.styleCost(this.pick(outputs, this.styleLayers));
      const contentOutputs = this.pick(outputs, this.contentLayers);
      const jContent =
        contentOutputs.length === 1
          ? this.contentCost(contentOutputs[0]!)
          : (tf.div(
              tf.addN(contentOutputs.map((o, i) => costs.contentCost(o, this.contentFeatures[i]!))),
              contentOutputs.length,
            ) as tf.Scalar);
      const jVar = costs.variationalCost(generatedImage);
      const j = tf.addN([tf.mul(jContent, this.alpha), tf.mul(jStyle, this.beta), tf.mul(jVar, this.var)]) as tf.Scalar;
      return [j, jContent, jStyle, jVar];
    });
  }

  /** [gradient of J w.r.t. the image, J, J_content, J_style, J_var]. */
  computeGrads(generatedImage: tf.Tensor4D): [tf.Tensor4D, tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar] {
    this.checkGenerated(generatedImage);
    let parts: tf.Scalar[] = [];
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor4D) => {
      const [j, ...rest] = this.totalCost(x);
      parts = rest.map((t) => tf.keep(t));
      return j;
    })(generatedImage);
    return [grad as tf.Tensor4D, value, parts[0]!, parts[1]!, parts[2]!];
  }

  /**
   * Optimises the image with Adam (clipping to [0, 1] after each update) or L-BFGS (projected onto
   * [0, 1]), and returns the image with the lowest total cost ([h, w, 3] in [0, 1]) and that cost.
   */
  async generateImage(options: GenerateOptions = {}): Promise<[tf.Tensor3D, number]> {
    const {
      iterations = 1000,
      step,
      optimizer = 'adam',
      lr = 0.01,
      beta1 = 0.9,
      beta2 = 0.99,
      history = 100,
      tolerance = 1e-6,
      init = 'content',
      seed,
    } = options;
    if (!Number.isInteger(iterations)) throw new TypeError('iterations must be an integer');
    if (iterations <= 0) throw new RangeError('iterations must be positive');
    if (step !== undefined && !Number.isInteger(step)) throw new TypeError('step must be an integer');
    if (step !== undefined && (step <= 0 || step >= iterations))
      throw new RangeError('step must be positive and less than iterations');
    if (!OPTIMIZER_NAMES.includes(optimizer)) throw new RangeError(`optimizer must be ${OPTIMIZER_NAMES.join(' or ')}`);
    if (!isNumber(lr)) throw new TypeError('lr must be a number');
    if (lr <= 0 || !Number.isFinite(lr)) throw new RangeError('lr must be positive');
    if (!isNumber(beta1)) throw new TypeError('beta1 must be a float');
    if (beta1 < 0 || beta1 > 1) throw new RangeError('beta1 must be in the range [0, 1]');
    if (!isNumber(beta2)) throw new TypeError('beta2 must be a float');
    if (beta2 < 0 || beta2 > 1) throw new RangeError('beta2 must be in the range [0, 1]');
    if (!Number.isInteger(history)) throw new TypeError('history must be an integer');
    if (history <= 0) throw new RangeError('history must be positive');
    if (!isNumber(tolerance)) throw new TypeError('tolerance must be a number');
    if (tolerance < 0 || !Number.isFinite(tolerance)) throw new RangeError('tolerance must be a non-negative number');
    if (seed !== undefined && !Number.isInteger(seed)) throw new TypeError('seed must be an integer');
    this.requireTargets();

    const log = options.log ?? ((line: string) => console.log(line));
    const initial = this.initialImage(init, seed);
    const algorithm: Optimizer = optimizer === 'lbfgs' ? new LBFGS(history, tolerance) : new Adam(lr, beta1, beta2);
    try {
      const result = await optimize({
        initial,
        iterations,
        optimizer: algorithm,
        evaluate: (image) => this.evaluate(image),
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

  /** The starting image, [1, h, w, 3] in [0, 1] at the content image's working size. */
  initialImage(init: InitImage = 'content', seed?: number): tf.Tensor4D {
    const shape = this.contentImage.shape;
    if (init === 'content') return this.contentImage.clone();
    if (init === 'noise') return tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
    if (init === 'style')
      return tf.tidy(() => tf.clipByValue(resizeBicubic(this.styleImage, shape[1], shape[2]), 0, 1));
    if (typeof init === 'string') throw new RangeError('init must be content, noise, style or an image');
    const raw = checkImage(init, 'init');
    try {
      return tf.tidy(() =>
        tf.clipByValue(
          tf.div<tf.Tensor4D>(resizeBicubic(tf.expandDims(raw, 0) as tf.Tensor4D, shape[1], shape[2]), 255),
          0,
          1,
        ),
      );
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

  /** One optimisation step's worth of work: the gradient and the costs as numbers. */
  private evaluate(image: tf.Tensor4D): { grads: tf.Tensor4D; costs: Costs } {
    const [grads, ...parts] = this.computeGrads(image);
    const stacked = tf.stack(parts);
    const [total, content, style, variation] = stacked.dataSync();
    tf.dispose([stacked, ...parts]);
    return { grads, costs: { total: total!, content: content!, style: style!, variation: variation! } };
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
    if (!this.contentFeature)
      throw new Error('the targets are not computed: call generateFeatures() or use NST.create()');
    return this.contentFeature;
  }

  private disposeTargets(): void {
    tf.dispose(this.gramStyleFeatures);
    tf.dispose(this.contentFeatures);
    this.gramStyleFeatures = [];
    this.contentFeatures = [];
  }
}
