import * as tf from '@tensorflow/tfjs';
import {
  NonFiniteCostError,
  type Evaluate,
  type Evaluation,
  type IterateAverage,
  type LoopState,
  type Optimizer,
  type OptimizerState,
  type OptimizeResult,
  type ProgressEvent,
  type StopReason,
} from './types.js';

export interface OptimizeOptions {
  /** The start, still the caller's: copied before `optimize` first awaits, so it may be released once the call has returned. */
  initial: tf.Tensor4D;
  iterations: number;
  evaluate: Evaluate;
  /** Disposed by the loop when it ends. */
  optimizer: Optimizer;
  /** Awaited when it returns a promise (a snapshot being written, say). */
  onProgress?: (event: ProgressEvent) => void | Promise<void>;
  /** Checked between iterations: a true answer ends the run early (Ctrl-C) with the best image so far. */
  shouldStop?: () => boolean;
  /**
   * Called with the loop's state after every reported iteration, and once more with `stopping`
   * when `shouldStop` ends the run: what a checkpoint saves. The state is borrowed for the call
   * (awaited when it returns a promise); copy what you keep.
   */
  onState?: (state: LoopState, stopping: boolean) => void | Promise<void>;
  /**
   * Continue a run from a state given to `onState`: the same image, best image, counters and
   * optimizer state, so the run goes on exactly as it would have (on the same backend). The
   * state's iteration is not reported again.
   */
  resume?: LoopState;
  /** Ends the run ('converged') once the best cost fell by less than this (see Convergence). */
  convergence?: Convergence;
  /**
   * Iterate averaging: the run's result is the exponential moving average of its images with
   * this decay, bias-corrected (IterateAverage), evaluated once at the end; 0 or absent: the
   * best image.
   */
  average?: number;
  /** Hand the optimizer's final state on in the result (to carry it to the next scale). */
  keepState?: boolean;
}

/** A copy of an optimizer's state as tensors (new ones; an engine's host vectors copied into tensors). */
const copyState = ({ tensors, values, arrays = {} }: OptimizerState): OptimizerState => ({
  tensors: Object.fromEntries([
    ...Object.entries(tensors).map(([name, t]) => [name, t.clone()]),
    ...Object.entries(arrays).map(([name, v]) => [name, tf.tensor(v.data, [...v.shape])]),
  ]),
  values: { ...values },
});

/**
 * An optimizer's state carried to an image of [h, w]: each image-shaped tensor (Adam's moments)
 * resized bilinearly, as crowsonkb/style-transfer-pytorch carries Adam's to the next scale; the
 * numbers (the step count) kept. New tensors; `state` stays the caller's.
 */
export function resizeState({ tensors, values }: OptimizerState, h: number, w: number): OptimizerState {
  const resized = Object.entries(tensors).map(([name, t]) => [
    name,
    tf.tidy(() => tf.image.resizeBilinear(t as tf.Tensor4D, [h, w])),
  ]);
  return { tensors: Object.fromEntries(resized), values: { ...values } };
}

/**
 * The loop's own stop, for any optimizer: after iteration i ≥ window, the run has converged when
 * best(i − window) − best(i) < threshold · best(i − window), best(i) the lowest cost up to i. The
 * best cost, not the current one, so that Adam's oscillations neither stop the run nor hide a
 * plateau. Threshold 0 never stops.
 */
export interface Convergence {
  window: number;
  threshold: number;
}

/** Whether the best costs of the last window + 1 reported iterations (oldest first) show convergence. */
export function hasConverged(recent: readonly number[], convergence: Convergence | undefined): boolean {
  if (!convergence || convergence.threshold <= 0 || recent.length <= convergence.window) return false;
  const then = recent[recent.length - 1 - convergence.window]!;
  return then - recent[recent.length - 1]! < convergence.threshold * Math.abs(then);
}

/** The bias-corrected average ā of an IterateAverage (a new tensor). */
export const averagedImage = ({ sum, count, decay }: IterateAverage): tf.Tensor4D =>
  tf.tidy(() => tf.div(sum, 1 - decay ** count));

/** The average with one more image (new; the old one is released). */
function addToAverage(average: IterateAverage | null, image: tf.Tensor4D, decay: number): IterateAverage {
  const sum = tf.tidy(() =>
    average ? tf.add(tf.mul(average.sum, decay), tf.mul(image, 1 - decay)) : tf.mul(image, 1 - decay),
  ) as tf.Tensor4D;
  average?.sum.dispose();
  return { sum, count: (average?.count ?? 0) + 1, decay };
}

/**
 * The loop of Gatys et al.'s Adam run (test/nst.test.ts pins it): iteration 0 is the initial image, then one optimizer step per iteration, at most
 * `iterations` of them; keeps the image with the lowest total cost and reports every iteration.
 * The optimizer may evaluate several times per step (line search): every evaluation goes through
 * the loop's counter. A non-finite cost stops the run: everything after it would be garbage, and
 * the best finite image is kept.
 */
export async function optimize(opts: OptimizeOptions): Promise<OptimizeResult> {
  const { iterations, optimizer, onProgress, shouldStop, onState, resume, convergence } = opts;
  const decay = opts.average ?? 0;
  let kept: OptimizerState | null = null;
  let average: IterateAverage | null = resume?.average ? { ...resume.average, sum: resume.average.sum.clone() } : null;
  const start = Date.now();
  let evaluations = resume?.evaluations ?? 0;
  const evaluate: Evaluate = (image) => {
    evaluations++;
    return opts.evaluate(image);
  };
  let image = (resume?.image ?? opts.initial).clone();
  let current: Evaluation | null = null;
  let best: tf.Tensor4D | null = resume ? resume.bestImage.clone() : null;
  let bestCost = resume?.bestCost ?? Infinity;
  let reason: StopReason = 'iterations';
  let converged = resume?.converged ?? false;
  const recentBest = [...(resume?.recentBest ?? [])];
  let i = resume?.iteration ?? 0;
  // The optimizer's state is taken only when read (a checkpoint being saved): an engine may hold
  // it where reading it costs a copy.
  const state = (): LoopState =>
    Object.defineProperty(
      { iteration: i, evaluations, image, bestImage: best!, bestCost, converged, recentBest, average },
      'optimizer',
      { get: () => optimizer.getState(), enumerable: true, configurable: true },
    ) as LoopState;
  /** Whether the loop ends after iteration i, and why: its budget, or converged (the optimizer's or the window's). */
  const ending = (): StopReason | null =>
    i === iterations ? 'iterations' : converged || hasConverged(recentBest, convergence) ? 'converged' : null;
  try {
    if (resume) optimizer.setState(resume.optimizer);
    // A resumed image was evaluated and counted before the checkpoint: evaluate it again uncounted.
    current = await (resume ? opts.evaluate(image) : evaluate(image));
    for (let report = !resume; ; i++, report = true) {
      const { costs } = current;
      if (report) {
        if (!Number.isFinite(costs.total)) {
          throw new NonFiniteCostError(`cost became ${costs.total} at iteration ${i}`, best, bestCost);
        }
        if (costs.total < bestCost) {
          bestCost = costs.total;
          best?.dispose();
          best = image.clone();
        }
        if (decay > 0) average = addToAverage(average, image, decay);
        recentBest.push(bestCost);
        if (recentBest.length > (convergence?.window ?? 0) + 1) recentBest.shift();
        const elapsedMs = Date.now() - start;
        const last = ending() !== null;
        await onProgress?.({ iteration: i, iterations, costs, bestCost, evaluations, elapsedMs, last });
        await onState?.(state(), false);
      }
      const done = ending();
      const stop = shouldStop?.() ?? false;
      if (done || stop) {
        reason = done ?? 'interrupted';
        // Asked to stop as the loop ends anyway: the state is still saved, so a resume goes on from here.
        if (stop) await onState?.(state(), true);
        break;
      }
      const result = await optimizer.step(image, current, evaluate);
      if ('stop' in result) {
        reason = result.stop;
        break;
      }
      image.dispose();
      image = result.image;
      current.gradient.dispose();
      current = result.evaluation ?? null;
      converged = result.converged ?? false;
      // Let signal handlers and the progress bar run between iterations.
      await new Promise((resolve) => setImmediate(resolve));
      current ??= await evaluate(image);
    }
    if (average) {
      // The average is the result: its own cost, from one more evaluation.
      const averaged = averagedImage(average);
      const evaluation = await evaluate(averaged);
      evaluation.gradient.dispose();
      best?.dispose();
      [best, bestCost] = [averaged, evaluation.costs.total];
    }
    if (opts.keepState) kept = copyState(optimizer.getState());
  } catch (error) {
    if (!(error instanceof NonFiniteCostError)) best?.dispose();
    throw error;
  } finally {
    current?.gradient.dispose();
    image.dispose();
    average?.sum.dispose();
    optimizer.dispose();
  }
  const result: OptimizeResult = { bestImage: best!, bestCost, evaluations, iterations: i, reason };
  return kept ? { ...result, optimizerState: kept } : result;
}
