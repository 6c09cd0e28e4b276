/** What the optimisers see: an evaluator of the objective, their steps, their state. */
import type * as tf from '@tensorflow/tfjs';

/** The costs of one evaluation: J = α·J_content + β·J_style + var·J_var (+ λ·J_temporal for a video frame). */
export interface Costs {
  total: number;
  content: number;
  style: number;
  variation: number;
  temporal?: number;
}

/** What an evaluation of the objective returns: the gradient of J w.r.t. the image, and the costs. */
export interface Evaluation {
  gradient: tf.Tensor4D;
  costs: Costs;
}

export interface ProgressEvent {
  /** 0 is the cost of the initial image, before any update. */
  iteration: number;
  iterations: number;
  costs: Costs;
  bestCost: number;
  /** Evaluations of the objective so far, this one included (a line search may do several per iteration). */
  evaluations: number;
  /** Milliseconds since the start of the run. */
  elapsedMs: number;
  /** The loop ends after this iteration (its budget, or converged); false does not promise another. */
  last?: boolean;
}

/** Evaluates the objective at an image ([1, h, w, 3] in [0, 1]); the caller owns the gradient. */
export type Evaluate = (image: tf.Tensor4D) => Promise<Evaluation>;

/**
 * What one iteration of an optimizer gives: the next image (the caller owns it) and, when the
 * optimizer already evaluated it (a line search does), that evaluation (also the caller's);
 * `converged` when the step met the optimizer's tolerance, so the loop stops after reporting it.
 * Or no step at all: `stop` says why (converged at the current image, or no decrease found).
 */
export type StepResult =
  { image: tf.Tensor4D; evaluation?: Evaluation; converged?: boolean } | { stop: 'converged' | 'stalled' };

/**
 * An optimizer of the image for `optimize`. `step` starts from `image` with its evaluation
 * `current` (both stay the caller's) and may call `evaluate` (the loop's counting one) as often as
 * it needs; it disposes every evaluation it does not return. `dispose` releases its state.
 */
export interface Optimizer {
  step(image: tf.Tensor4D, current: Evaluation, evaluate: Evaluate): Promise<StepResult>;
  /** Its whole state, for a checkpoint; the tensors stay the optimizer's (read, do not dispose). */
  getState(): OptimizerState;
  /** Continues from a state that `getState` gave (the tensors are copied). */
  setState(state: OptimizerState): void;
  dispose(): void;
}

/**
 * The (s, y) pairs of L-BFGS, held where a runtime keeps them, and H·q over them: the inverse
 * Hessian approximation of the BFGS updates from H₀ = γ·D (D a diagonal scaling, γ = sᵀy / yᵀDy
 * of the newest pair). One interface, so that the two-loop recursion can run on TensorFlow.js
 * (optim/lbfgs.ts) or as ONNX Runtime work beside the engine (engine/onnx/curvature.ts).
 */
export interface CurvaturePairs {
  /** Pairs held (at most the capacity it was made with). */
  readonly length: number;
  /** Adds a pair (copied: s and y stay the caller's), ρ = 1 / yᵀs; the oldest goes beyond the capacity. */
  push(s: tf.Tensor4D, y: tf.Tensor4D, rho: number): Promise<void>;
  /** H·q (a new tensor, the caller's); needs at least one pair. */
  times(q: tf.Tensor4D, scaling: tf.Tensor4D): Promise<tf.Tensor4D>;
  /** The pairs, oldest first, for a checkpoint: they stay the holder's until its next change. */
  list(): readonly StoredPair[];
  /**
   * Where the oldest pair sits among the holder's places (0 for a holder that keeps them in
   * order): a checkpoint keeps it so that a restored holder computes exactly as this one.
   */
  readonly offset: number;
  /** Replaces the pairs by copies of these (a checkpoint's), oldest first, from `offset`. */
  restore(pairs: readonly StoredPair[], offset?: number): void;
  /** Drops every pair. */
  clear(): void;
  /** Drops every pair and whatever the holder keeps beside them. */
  dispose(): void;
}

/** One correction pair of L-BFGS: s = x₊ − x, y = g₊ − g, ρ = 1 / yᵀs. */
export interface Pair {
  s: tf.Tensor4D;
  y: tf.Tensor4D;
  rho: number;
}

/** An image-shaped vector an engine holds in host memory, read where it is (not a copy). */
export interface HostVector {
  data: Float32Array;
  shape: readonly number[];
}

/** A pair as a holder lists it: TensorFlow.js tensors, or an engine's host vectors. */
export interface StoredPair {
  s: tf.Tensor4D | HostVector;
  y: tf.Tensor4D | HostVector;
  rho: number;
}

/** Whether a stored vector is a host vector rather than a tensor. */
export const isHostVector = (v: tf.Tensor | HostVector): v is HostVector => !('dataId' in v);

/** Makes an empty holder of at most `capacity` pairs. */
export type CurvaturePairsFactory = (capacity: number) => CurvaturePairs;

/** What `LbfgsKernels.project` gives: every tensor new, the caller's. */
export interface Projection {
  /** The running mean of g² with this gradient in: β·v + (1 − β)·g², or g² at the first step. */
  v: tf.Tensor4D;
  /** 1 where the pixel is free, 0 where it sits at a bound with its gradient pointing outward. */
  free: tf.Tensor4D;
  /** The projected gradient, g·free. */
  pg: tf.Tensor4D;
  /** Its max-norm. */
  norm: number;
  /** H₀'s diagonal D from v (see optim/lbfgs.ts `diagonalScaling`). */
  scaling: tf.Tensor4D;
}

/**
 * The element-wise arithmetic of a bounded L-BFGS step (optim/lbfgs.ts), where a runtime does it.
 * Every tensor given stays the caller's; every tensor returned is new, the caller's.
 */
export interface LbfgsKernels {
  project(x: tf.Tensor4D, g: tf.Tensor4D, v: tf.Tensor4D | null): Promise<Projection>;
  /** d = −free·r (r = H·pg) and the slope gᵀd. */
  descent(r: tf.Tensor4D, free: tf.Tensor4D, g: tf.Tensor4D): Promise<{ d: tf.Tensor4D; slope: number }>;
  /** The trial point P(x + t·d), P the clipping to [0, 1], and gᵀ(P(x + t·d) − x). */
  trial(x: tf.Tensor4D, d: tf.Tensor4D, t: number, g: tf.Tensor4D): Promise<{ trial: tf.Tensor4D; decrease: number }>;
  /** s = x₊ − x, y = g₊ − g and their dot products yᵀs, sᵀs, yᵀy. */
  pair(
    x: tf.Tensor4D,
    g: tf.Tensor4D,
    xNext: tf.Tensor4D,
    gNext: tf.Tensor4D,
  ): Promise<{ s: tf.Tensor4D; y: tf.Tensor4D; ys: number; ss: number; yy: number }>;
}

/** Where L-BFGS keeps its pairs and does its arithmetic: TensorFlow.js, or an engine's runtime. */
export interface LbfgsRuntime {
  pairs: CurvaturePairsFactory;
  kernels: LbfgsKernels;
}

/** Adam's coefficients at one step: the moments' decays, the bias-corrected rate, and ε. */
export interface AdamStep {
  beta1: number;
  beta2: number;
  /** lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ) */
  rate: number;
  epsilon: number;
}

/**
 * Adam's update where a runtime does it: m₊ = β₁m + (1 − β₁)g, v₊ = β₂v + (1 − β₂)g², the image
 * clip(x − rate·m₊ / (√v₊ + ε), 0, 1); m and v null at the first step. The moments given are
 * consumed (released as soon as they are read, so that the old and the new are not held at
 * once); x and g stay the caller's; every tensor returned is new, the caller's.
 */
export interface AdamKernels {
  step(
    x: tf.Tensor4D,
    g: tf.Tensor4D,
    moments: { m: tf.Tensor4D; v: tf.Tensor4D } | null,
    coefficients: AdamStep,
  ): Promise<{ image: tf.Tensor4D; m: tf.Tensor4D; v: tf.Tensor4D }>;
}

/**
 * An optimizer's state as named tensors (and host vectors, where an engine holds them) and
 * numbers, so that it can be saved and restored.
 */
export interface OptimizerState {
  tensors: Record<string, tf.Tensor>;
  values: Record<string, number>;
  arrays?: Record<string, HostVector>;
}

/** The cost stopped being a finite number; the best image before that is attached. */
export class NonFiniteCostError extends Error {
  override name = 'NonFiniteCostError';
  constructor(
    message: string,
    readonly bestImage: tf.Tensor4D | null,
    readonly bestCost: number,
  ) {
    super(message);
  }
}

/** Everything the loop needs to continue a run later. */
export interface LoopState {
  /** The iteration last reported; `image` is its image. */
  iteration: number;
  evaluations: number;
  image: tf.Tensor4D;
  bestImage: tf.Tensor4D;
  bestCost: number;
  /** The optimizer's last step met its tolerance: the loop stops after this iteration. */
  converged: boolean;
  /** The best cost at each of the last reported iterations (oldest first), for the loop's convergence stop. */
  recentBest: number[];
  optimizer: OptimizerState;
  /** With iterate averaging: the running average (see IterateAverage); null without. */
  average: IterateAverage | null;
}

/**
 * An exponential moving average of the images of the reported iterations, bias-corrected:
 * ā = sum / (1 − decayᵏ) with sum ← decay·sum + (1 − decay)·image, k the images averaged.
 */
export interface IterateAverage {
  sum: tf.Tensor4D;
  count: number;
  decay: number;
}

/**
 * Why the loop ended: the iteration budget was used, the cost stopped falling (the loop's
 * convergence stop or the optimizer's tolerance), the optimizer stalled (no decrease could be
 * found), or `shouldStop` said so (Ctrl-C).
 */
export type StopReason = 'iterations' | 'converged' | 'stalled' | 'interrupted';

export interface OptimizeResult {
  bestImage: tf.Tensor4D;
  /** With OptimizeOptions.keepState: the optimizer's state at the end (a copy, the caller's). */
  optimizerState?: OptimizerState;
  bestCost: number;
  /** Evaluations done: iterations + 1 for a full Adam run, more for L-BFGS (line search). */
  evaluations: number;
  /** Iterations done (the last progress event's iteration). */
  iterations: number;
  /** Why the run ended; 'interrupted' when `shouldStop` ended it. */
  reason: StopReason;
}
