/**
 * The TensorFlow.js engine: a backend (native TensorFlow, WebAssembly or plain JavaScript), the
 * VGG19 models its runs need (one per set of layers and pooling, loaded once) and the style
 * images' Gram matrices seen so far (computed once per image).
 */
import { InputError } from '../../errors.js';
import * as tf from '@tensorflow/tfjs';
import type { Engine, EngineOptions, Evaluator, Objective, TargetImages, TileKernel } from '../evaluator.js';
import { modelOutputs, type Pooling } from '../vgg19.js';
import { describeBackend, selectBackend, type BackendInfo, type BackendName } from './backend.js';
import { FeatureModel } from './features.js';
import { tfjsMemoryModel } from './memory.js';
import { computeTargets, TfjsEvaluator, type StyleCache } from './objective.js';
import { TfjsTileKernel } from './tiles.js';

/** This engine's objective has the Gram style loss only; the others are the ONNX graph's. */
function gramOnly(objective: Objective): void {
  const loss = objective.styleLoss ?? 'gram';
  if (loss !== 'gram')
    throw new InputError(`style loss ${loss} needs the onnx backend (this backend has gram only)`, {
      setting: 'styleLoss',
    });
}

export class TfjsEngine implements Engine {
  private readonly models = new Map<string, FeatureModel>();
  private readonly styleCache: StyleCache = new Map();

  constructor(
    readonly backend: BackendInfo,
    private readonly weights: string,
  ) {}

  get info() {
    const { name, package: pkg, gpu, threads } = this.backend;
    return { name, package: pkg, gpu, threads, description: describeBackend(this.backend) };
  }

  get memory() {
    return tfjsMemoryModel(this.backend.name, this.backend.threads);
  }

  /** What is cached: loaded models and style images' Gram matrices. */
  get cached(): { models: number; styleTargets: number } {
    return { models: this.models.size, styleTargets: this.styleCache.size };
  }

  /** The model with the outputs of these layers and this pooling, loaded on first use. */
  async model(
    styleLayers: readonly string[],
    contentLayers: readonly string[],
    pooling: Pooling,
  ): Promise<FeatureModel> {
    const outputs = modelOutputs(styleLayers, contentLayers);
    const key = `${outputs.join(',')} ${pooling}`;
    let model = this.models.get(key);
    if (!model) {
      model = await FeatureModel.load(this.weights, outputs, pooling);
      this.models.set(key, model);
    }
    return model;
  }

  async createEvaluator(objective: Objective, images: TargetImages): Promise<Evaluator> {
    gramOnly(objective);
    const model = await this.model(objective.styleLayers, objective.contentLayers, objective.pooling);
    return new TfjsEvaluator(model, objective, computeTargets(model, objective, images, this.styleCache));
  }

  /** Any tile size: the model takes images of any size. */
  async createTileKernel(objective: Objective): Promise<TileKernel> {
    gramOnly(objective);
    return new TfjsTileKernel(
      await this.model(objective.styleLayers, objective.contentLayers, objective.pooling),
      objective,
    );
  }

  dispose(): void {
    for (const model of this.models.values()) model.dispose();
    for (const grams of this.styleCache.values()) tf.dispose(grams);
    this.models.clear();
    this.styleCache.clear();
  }
}

/** Selects the backend (see selectBackend) and makes the engine; models load when first needed. */
export async function createTfjsEngine(options: EngineOptions & { engine?: BackendName }): Promise<TfjsEngine> {
  const backend = await selectBackend(options.engine ?? 'auto', options.threads);
  return new TfjsEngine(backend, options.weights);
}
