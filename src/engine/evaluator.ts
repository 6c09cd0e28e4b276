/**
 * The seam between the optimisation and the compute engine. An engine loads the network once;
 * for each working size it builds an Evaluator holding that size's targets (the style images'
 * Gram matrices and the content image's features). The optimisers see only `evaluate`. Each
 * engine lives in its own folder, loaded on first use by the factory (factory.ts).
 */
import * as os from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import type { AdamKernels, Evaluation, LbfgsRuntime } from '../optim/types.js';
import type { MemoryModel } from './memory.js';
import type { StyleLossName } from './objective/style.js';
import type { OnnxTuning } from './onnx/tuning.js';
import type { StyleRegions } from './regions.js';

/** What the objective J = α·J_content + β·J_style + var·J_var is made of. */
export interface Objective {
  alpha: number;
  beta: number;
  variation: number;
  styleLayers: readonly string[];
  contentLayers: readonly string[];
  /** One per style layer, summing to 1. */
  styleLayerWeights: readonly number[];
  pooling: 'avg' | 'max';
  /** How a style layer's features are compared with the style's (objective/style.ts); default 'gram'. */
  styleLoss?: StyleLossName;
  /**
   * Each style layer entry weighs its positions by a map given with its target: the slots of
   * styles by region (regions.ts), which make the objective from `TargetImages.regions`.
   */
  styleMaps?: boolean;
  /** The weight of the temporal cost of a video frame (TargetImages.temporal); absent: no such term. */
  temporal?: number;
}

/** The images the targets come from, scaled: [1, h, w, 3] in [0, 1]. */
export interface TargetImages {
  content: tf.Tensor4D;
  styles: readonly tf.Tensor4D[];
  /** One per style image, summing to 1: each style layer's target is Σ wᵢ·Gᵢ. */
  styleWeights: readonly number[];
  /** Styles by region: where each goes (regions.ts); absent, the blend everywhere. */
  regions?: StyleRegions;
  /** With Objective.temporal: the previous stylised frame warped onto this one, and per pixel whether to trust it ([h, w], 0 or 1). */
  temporal?: { target: tf.Tensor4D; weights: tf.Tensor2D };
}

/** The objective at one working size (the content image's), with its targets. */
export interface Evaluator {
  /** J's costs and gradient at `image` ([1, h, w, 3] in [0, 1]); the caller owns the gradient. */
  evaluate(image: tf.Tensor4D): Promise<Evaluation>;
  dispose(): void;
}

/**
 * Each position's weight in one tile, at every layer a tiled evaluation uses (engine/tiled.ts):
 * the tile's window pooled down to the layer's grid, [h_l, w_l]. Over all tiles the weights of a
 * position sum to 1, so sums over tiles are sums over the whole image.
 */
export interface TileWeights {
  /** At the tile's pixels, [h, w]: the variational cost's. */
  image: tf.Tensor2D;
  /** One per style layer, in the objective's order. */
  style: readonly tf.Tensor2D[];
  /** One per content layer. */
  content: readonly tf.Tensor2D[];
}

/** Pass 1 of a tiled evaluation on one tile: its weighted shares of the whole image's sums. */
export interface TileSums {
  /** Per style layer Σₚ m(p)·Fₚ Fₚᵀ, [c, c] (not divided by the number of positions); the caller's. */
  grams: tf.Tensor2D[];
  /** Per content layer Σₚ m(p)·|Fₚ − Pₚ|² (0 without targets). */
  content: number[];
  /** The variational cost, each pair of neighbouring pixels weighted by its first pixel's m. */
  variation: number;
}

/** What pass 2 weighs a tile's sums by: the whole image's dJ/d(sum) for each. */
export interface TileSeeds {
  /** Per style layer K_l = dJ/dS_l, [rows, c] (symmetric for Gram sums); the caller's. */
  gramGradients: readonly tf.Tensor2D[];
  /** Per content layer γ_k = dJ/dC_k. */
  contentWeights: readonly number[];
  /** ν = dJ/dV. */
  variationWeight: number;
}

/**
 * The network on tiles of one size [h, w], for a tiled evaluation (engine/tiled.ts): the
 * forward pass's weighted sums, and the gradient of the tile's share of the objective once the
 * whole image's Gram matrices are known. Tensors passed in stay the caller's.
 */
export interface TileKernel {
  /** The tile's activations at the content layers, [1, h_l, w_l, c] NHWC (its content targets); the caller's. */
  features(tile: tf.Tensor4D): Promise<tf.Tensor4D[]>;
  /** The weighted sums at the style layers, and at the content layers against `contentTargets` when given. */
  sums(tile: tf.Tensor4D, weights: TileWeights, contentTargets: readonly tf.Tensor4D[] | null): Promise<TileSums>;
  /**
   * The gradient w.r.t. the tile ([1, h, w, 3], the caller's) of
   *   L = Σ_l ⟨K_l, Σₚ m(p)·Fₚ Fₚᵀ⟩ + Σ_k γ_k·Σₚ m(p)·|Fₚ − Pₚ|² + ν·V
   * with K_l, γ_k and ν from `seeds`.
   */
  gradient(
    tile: tf.Tensor4D,
    weights: TileWeights,
    contentTargets: readonly tf.Tensor4D[],
    seeds: TileSeeds,
  ): Promise<tf.Tensor4D>;
  dispose(): void;
}

/** What runs, for the line the command prints and the `start` event. */
export interface EngineInfo {
  /** The engine's name as `--backend` spells it once chosen: 'onnx' or 'onnx-wasm'. */
  name: string;
  /** The package that provides it. */
  package: string;
  /** Whether it runs on a GPU. */
  gpu: boolean;
  /** Threads doing the work (0: the engine's own choice). */
  threads: number;
  /** One line saying what runs, for people. */
  description: string;
}

/** A loaded engine: the network, its caches, and the evaluators it builds. */
export interface Engine {
  readonly info: EngineInfo;
  /** How much memory its runs take, for the memory guard. */
  readonly memory: MemoryModel;
  createEvaluator(objective: Objective, images: TargetImages): Promise<Evaluator>;
  /** The network on tiles of [h, w] px, for a tiled evaluation (engine/tiled.ts). */
  createTileKernel(objective: Objective, size: readonly [number, number]): Promise<TileKernel>;
  /** Where L-BFGS keeps its pairs and does its arithmetic, if the engine does that (else TensorFlow.js). */
  readonly lbfgs?: LbfgsRuntime;
  /** Where Adam's update runs, if the engine does that (else TensorFlow.js). */
  readonly adam?: AdamKernels;
  /** What it holds for later runs: loaded models, and style images whose targets it computed. */
  readonly cached: { models: number; styleTargets: number };
  /** Releases the network and every cached target. */
  dispose(): void;
}

/**
 * What `createEngine` takes: ONNX Runtime's native build (`onnx`) or its WebAssembly build
 * (`onnx-wasm`), both running the graphs of engine/objective/; `auto` picks the first that loads
 * here (see factory.ts).
 */
export const ENGINE_NAMES = ['auto', 'onnx', 'onnx-wasm'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/**
 * Where the ONNX engine runs: 'auto' (CUDA where its provider is installed and an NVIDIA GPU is
 * visible, DirectML on Windows, CoreML on macOS, WebGPU on a discrete GPU on Linux, else the
 * CPU), the CPU, or one execution provider of ONNX Runtime: WebGPU (any Vulkan, Metal or
 * Direct3D 12 GPU; in the npm package on Linux x64), CUDA, DirectML, CoreML.
 */
export const DEVICES = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type Device = (typeof DEVICES)[number];

export interface EngineOptions {
  /** Default 'auto'. */
  engine?: EngineName;
  /** Default 'auto'. A device asked for by name that cannot start is an InputError (setting 'device'). */
  device?: Device;
  /** The ONNX engine's graph and session settings, over its defaults. */
  onnx?: Partial<OnnxTuning>;
  /** Threads where the engine takes a count (default: all cores, at most 8). */
  threads?: number;
  /** Path of the VGG19 weights file (Keras HDF5). */
  weights: string;
}

/** All the cores this process may use, at most 8. */
export function defaultThreads(): number {
  return Math.min(8, os.availableParallelism());
}
