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

/** An optimizer's state as named tensors and numbers, so that it can be saved and restored. */
export interface OptimizerState {
  tensors: Record<string, tf.Tensor>;
  values: Record<string, number>;
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
