import * as tf from '@tensorflow/tfjs';

/** The four costs of one evaluation: J = α·J_content + β·J_style + var·J_var. */
export interface Costs {
  total: number;
  content: number;
  style: number;
  variation: number;
}

/** What an evaluation of the objective returns: the gradient of J w.r.t. the image, and the costs. */
export interface Evaluation {
  grads: tf.Tensor4D;
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
  /** Set by coarse-to-fine runs: which scale (1-based) of how many, and its size in pixels. */
  scale?: { index: number; count: number; size: number };
}

export type Evaluate = (image: tf.Tensor4D) => Evaluation;

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
  step(image: tf.Tensor4D, current: Evaluation, evaluate: Evaluate): StepResult;
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

/**
 * Adam (Kingma & Ba) on the image, as tf.keras' optimizer computes it (epsilon 1e-7), followed by
 * clipping to [0, 1] as the seed does after every update. Written out instead of tf.train.adam so
 * that its moments are plain tensors we own (no variables to leak, state that can be saved).
 * One evaluation per iteration.
 */
export class Adam implements Optimizer {
  private m: tf.Tensor4D | null = null;
  private v: tf.Tensor4D | null = null;
  private t = 0;

  constructor(
    readonly lr = 0.01,
    readonly beta1 = 0.9,
    readonly beta2 = 0.99,
    readonly epsilon = 1e-7,
  ) {}

  /** Returns the updated, clipped image; the caller owns it and still owns `image` and `current`. */
  step(image: tf.Tensor4D, current: Evaluation): StepResult {
    const grads = current.grads;
    this.t += 1;
    const { lr, beta1, beta2, epsilon, t } = this;
    const [m, v, next] = tf.tidy(() => {
      const m = this.m ? tf.add(tf.mul(this.m, beta1), tf.mul(grads, 1 - beta1)) : tf.mul(grads, 1 - beta1);
      const v = this.v
        ? tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(grads), 1 - beta2))
        : tf.mul(tf.square(grads), 1 - beta2);
      const lrT = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      const update = tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), epsilon));
      return [m, v, tf.clipByValue(tf.sub(image, update), 0, 1)] as tf.Tensor4D[];
    });
    this.dispose();
    this.m = m!;
    this.v = v!;
    return { image: next! };
  }

  getState(): OptimizerState {
    return { tensors: this.m && this.v ? { m: this.m, v: this.v } : {}, values: { t: this.t } };
  }

  setState(state: OptimizerState): void {
    this.dispose();
    const { m, v } = state.tensors;
    this.m = m ? (m.clone() as tf.Tensor4D) : null;
    this.v = v ? (v.clone() as tf.Tensor4D) : null;
    this.t = state.values['t'] ?? 0;
  }

  dispose(): void {
    this.m?.dispose();
    this.v?.dispose();
    this.m = this.v = null;
  }
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

export interface OptimizeOptions {
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
  optimizer: OptimizerState;
}

/**
 * Why the loop ended: the iteration budget was used, the optimizer converged (its tolerance),
 * it stalled (no decrease could be found), or `shouldStop` said so.
 */
export type StopReason = 'iterations' | 'converged' | 'stalled' | 'stopped';

export interface OptimizeResult {
  bestImage: tf.Tensor4D;
  bestCost: number;
  /** Evaluations done: iterations + 1 for a full Adam run, more for L-BFGS (line search). */
  evaluations: number;
  /** Iterations done (the last progress event's iteration). */
  iterations: number;
  /** Why the run ended; 'stopped' when `shouldStop` ended it. */
  reason: StopReason;
}

/**
 * The seed's loop: iteration 0 is the initial image, then one optimizer step per iteration, at most
 * `iterations` of them; keeps the image with the lowest total cost and reports every iteration.
 * The optimizer may evaluate several times per step (line search): every evaluation goes through
 * the loop's counter. A non-finite cost stops the run: everything after it would be garbage, and
 * the best finite image is kept.
 */
export async function optimize(opts: OptimizeOptions): Promise<OptimizeResult> {
  const { iterations, optimizer, onProgress, shouldStop, onState, resume } = opts;
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
  let i = resume?.iteration ?? 0;
  const state = (): LoopState => ({
    iteration: i,
    evaluations,
    image,
    bestImage: best!,
    bestCost,
    converged,
    optimizer: optimizer.getState(),
  });
  try {
    if (resume) optimizer.setState(resume.optimizer);
    // A resumed image was evaluated and counted before the checkpoint: evaluate it again uncounted.
    current = resume ? opts.evaluate(image) : evaluate(image);
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
        await onProgress?.({ iteration: i, iterations, costs, bestCost, evaluations, elapsedMs: Date.now() - start });
        await onState?.(state(), false);
      }
      if (i === iterations) break;
      if (converged) {
        reason = 'converged';
        break;
      }
      if (shouldStop?.()) {
        reason = 'stopped';
        await onState?.(state(), true);
        break;
      }
      const result = optimizer.step(image, current, evaluate);
      if ('stop' in result) {
        reason = result.stop;
        break;
      }
      image.dispose();
      image = result.image;
      current.grads.dispose();
      current = result.evaluation ?? null;
      converged = result.converged ?? false;
      // Let signal handlers and the progress bar run between iterations.
      await new Promise((resolve) => setImmediate(resolve));
      current ??= evaluate(image);
    }
  } catch (error) {
    if (!(error instanceof NonFiniteCostError)) best?.dispose();
    throw error;
  } finally {
    current?.grads.dispose();
    image.dispose();
    optimizer.dispose();
  }
  return { bestImage: best!, bestCost, evaluations, iterations: i, reason };
}

/** One stored correction pair of L-BFGS: s = x₊ − x, y = g₊ − g, ρ = 1 / yᵀs. */
interface Pair {
  s: tf.Tensor4D;
  y: tf.Tensor4D;
  rho: number;
}

/** The value of a scalar computed by `fn`, every tensor released. */
function readScalar(fn: () => tf.Tensor): number {
  const t = tf.tidy(fn);
  const value = t.dataSync()[0]!;
  t.dispose();
  return value;
}

/** Armijo's sufficient-decrease constant (the usual 1e-4). */
const ARMIJO = 1e-4;
/** Evaluations one line search may spend before it gives up. */
const MAX_LINE_SEARCH = 20;
/** A pair is kept only when the angle between s and y is clearly below 90°: cos(s, y) > this. */
const CURVATURE_EPS = 1e-8;

/**
 * Limited-memory BFGS with the pixel bounds [0, 1] (a projected L-BFGS), on tensors.
 *
 * Each iteration: the variables at a bound whose gradient points outward (x = 0 with g > 0, x = 1
 * with g < 0) are fixed for this iteration; the others are free. The projected gradient is the
 * gradient with the fixed components zeroed. The direction is the two-loop recursion over the
 * last `history` (s, y) pairs applied to the projected gradient, with H₀ = (sᵀy / yᵀy)·I from the
 * newest pair, and again zeroed on the fixed components. The step is P(x + t·d), P the clipping to
 * [0, 1], from t = 1, backtracking (quadratic interpolation, kept within [0.1, 0.5] of the previous
 * t) until the projected point decreases the cost sufficiently: f(P(x + t·d)) < f(x) and
 * f(P(x + t·d)) ≤ f(x) + c₁·gᵀ(P(x + t·d) − x) (Armijo along the projected step). If no such t is
 * found, or d is not a descent direction, the history is dropped and a projected steepest-descent
 * step is tried; if that fails too the optimizer reports `stalled`.
 *
 * Stops (`converged`) when the projected gradient's max-norm falls to `tolerance` times its
 * initial value, or when a quasi-Newton step decreases the cost by less than `tolerance` relative
 * to it. Tolerance 0 runs the whole budget.
 */
export class LBFGS implements Optimizer {
  private pairs: Pair[] = [];
  /** Max-norm of the first projected gradient, the scale of the gradient tolerance. */
  private initialGradNorm: number | null = null;

  /**
   * @param history number of (s, y) pairs kept (jcjohnson's neural-style uses 100).
   * @param tolerance relative tolerance of the stopping tests (see the class comment).
   * @param firstStep largest pixel change of a step taken without curvature information (the first
   *   one, or after a reset): the gradient alone says nothing about how far to go, and its scale
   *   follows the cost weights (α, β, var), so the step is set in pixel units instead. 0.01 is
   *   the move of Adam's first step at its default rate, a safe move on this objective; the
   *   pair it produces then gives the quasi-Newton steps their scale.
   */
  constructor(
    readonly history = 100,
    readonly tolerance = 1e-6,
    readonly firstStep = 0.01,
  ) {
    if (!Number.isInteger(history) || history < 1) throw new RangeError('history must be a positive integer');
    if (!(tolerance >= 0)) throw new RangeError('tolerance must be a non-negative number');
  }

  step(x: tf.Tensor4D, current: Evaluation, evaluate: Evaluate): StepResult {
    const f = current.costs.total;
    const g = current.grads;
    const [free, pg, pgNorm] = tf.tidy(() => {
      const outward = tf.logicalOr(
        tf.logicalAnd(tf.lessEqual(x, 0), tf.greater(g, 0)),
        tf.logicalAnd(tf.greaterEqual(x, 1), tf.less(g, 0)),
      );
      const free = tf.cast(tf.logicalNot(outward), 'float32') as tf.Tensor4D;
      const pg = tf.mul(g, free) as tf.Tensor4D;
      return [free, pg, tf.max(tf.abs(pg))];
    });
    try {
      const norm = pgNorm.dataSync()[0]!;
      const initial = (this.initialGradNorm ??= norm);
      if (norm === 0 || norm <= this.tolerance * initial) return { stop: 'converged' };
      for (;;) {
        const fresh = this.pairs.length === 0;
        let d = fresh ? null : this.direction(pg, free);
        let slope = d ? readScalar(() => tf.sum(tf.mul(g, d!))) : 0;
        let t = 1;
        if (!d || !(slope < 0)) {
          d?.dispose();
          this.reset();
          d = tf.neg(pg);
          slope = readScalar(() => tf.neg(tf.sum(tf.square(pg))));
          t = this.firstStep / norm;
        }
        const found = this.lineSearch(x, f, g, d, slope, t, evaluate);
        d.dispose();
        if (found) {
          const converged =
            !fresh && this.pairs.length > 0 && (f - found.evaluation.costs.total) / Math.abs(f) < this.tolerance;
          this.remember(x, g, found.image, found.evaluation.grads);
          return { ...found, converged };
        }
        if (this.pairs.length === 0) return { stop: 'stalled' };
        this.reset(); // the curvature information led nowhere: start again from steepest descent
      }
    } finally {
      tf.dispose([free, pg, pgNorm]);
    }
  }

  getState(): OptimizerState {
    const tensors: Record<string, tf.Tensor> = {};
    const values: Record<string, number> = { pairs: this.pairs.length };
    this.pairs.forEach(({ s, y, rho }, i) => {
      tensors[`s${i}`] = s;
      tensors[`y${i}`] = y;
      values[`rho${i}`] = rho;
    });
    if (this.initialGradNorm !== null) values['initialGradNorm'] = this.initialGradNorm;
    return { tensors, values };
  }

  setState(state: OptimizerState): void {
    this.reset();
    const { tensors, values } = state;
    for (let i = 0; i < (values['pairs'] ?? 0); i++) {
      this.pairs.push({
        s: tensors[`s${i}`]!.clone() as tf.Tensor4D,
        y: tensors[`y${i}`]!.clone() as tf.Tensor4D,
        rho: values[`rho${i}`]!,
      });
    }
    this.initialGradNorm = values['initialGradNorm'] ?? null;
  }

  dispose(): void {
    this.reset();
  }

  /** Drops the stored pairs. */
  private reset(): void {
    for (const { s, y } of this.pairs) tf.dispose([s, y]);
    this.pairs = [];
  }

  /** −H·pg by the two-loop recursion, zeroed on the fixed variables. */
  private direction(pg: tf.Tensor4D, free: tf.Tensor4D): tf.Tensor4D {
    const pairs = this.pairs;
    const newest = pairs[pairs.length - 1]!;
    const alphas: tf.Scalar[] = [];
    // Intermediates are released as the loops go, so memory stays at a few images beyond the pairs.
    let q: tf.Tensor4D = pg.clone();
    for (let i = pairs.length - 1; i >= 0; i--) {
      const { s, y, rho } = pairs[i]!;
      const a = tf.tidy(() => tf.mul(tf.sum(tf.mul(s, q)), rho) as tf.Scalar);
      alphas[i] = a;
      const next = tf.tidy(() => tf.sub(q, tf.mul(y, a)) as tf.Tensor4D);
      q.dispose();
      q = next;
    }
    // H₀ = γ·I with γ = sᵀy / yᵀy = 1 / (ρ·yᵀy) of the newest pair.
    let r = tf.tidy(() => tf.div(q, tf.mul(tf.sum(tf.square(newest.y)), newest.rho)) as tf.Tensor4D);
    q.dispose();
    for (let i = 0; i < pairs.length; i++) {
      const { s, y, rho } = pairs[i]!;
      const next = tf.tidy(() => {
        const b = tf.mul(tf.sum(tf.mul(y, r)), rho);
        return tf.add(r, tf.mul(s, tf.sub(alphas[i]!, b))) as tf.Tensor4D;
      });
      r.dispose();
      r = next;
    }
    tf.dispose(alphas);
    const d = tf.tidy(() => tf.neg(tf.mul(r, free)) as tf.Tensor4D);
    r.dispose();
    return d;
  }

  /**
   * Backtracking along the projected path P(x + t·d) from `t`; returns the first point with
   * sufficient decrease and its evaluation, or null after MAX_LINE_SEARCH evaluations.
   * `slope` is gᵀd, the derivative at t = 0 before projection, used for the interpolation.
   */
  private lineSearch(
    x: tf.Tensor4D,
    f: number,
    g: tf.Tensor4D,
    d: tf.Tensor4D,
    slope: number,
    t: number,
    evaluate: Evaluate,
  ): { image: tf.Tensor4D; evaluation: Evaluation } | null {
    for (let k = 0; k < MAX_LINE_SEARCH; k++) {
      const trial = tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(d, t)), 0, 1) as tf.Tensor4D);
      const decrease = readScalar(() => tf.sum(tf.mul(g, tf.sub(trial, x)))); // gᵀ(P(x + t·d) − x), < 0 along a descent path
      let evaluation: Evaluation;
      try {
        evaluation = evaluate(trial);
      } catch (error) {
        trial.dispose();
        throw error;
      }
      const ft = evaluation.costs.total;
      if (ft < f && ft <= f + ARMIJO * decrease) return { image: trial, evaluation };
      tf.dispose([trial, evaluation.grads]);
      // Minimiser of the quadratic through f, the slope at 0 and f(t), kept within [0.1t, 0.5t];
      // a non-finite cost (a step into garbage) shrinks by 10.
      let next = 0.1 * t;
      if (Number.isFinite(ft)) {
        const curvature = 2 * (ft - f - slope * t);
        next = curvature > 0 ? Math.min(0.5 * t, Math.max(0.1 * t, (-slope * t * t) / curvature)) : 0.5 * t;
      }
      t = next;
    }
    return null;
  }

  /** Stores the pair of the accepted step when its curvature yᵀs is clearly positive. */
  private remember(x: tf.Tensor4D, g: tf.Tensor4D, xNext: tf.Tensor4D, gNext: tf.Tensor4D): void {
    const s = tf.sub(xNext, x) as tf.Tensor4D;
    const y = tf.sub(gNext, g) as tf.Tensor4D;
    const dots = tf.tidy(() => tf.stack([tf.sum(tf.mul(y, s)), tf.sum(tf.square(s)), tf.sum(tf.square(y))]));
    const [ys, ss, yy] = dots.dataSync();
    dots.dispose(); // three numbers in one read
    if (!(ys! > CURVATURE_EPS * Math.sqrt(ss! * yy!))) {
      tf.dispose([s, y]);
      return;
    }
    this.pairs.push({ s, y, rho: 1 / ys! });
    if (this.pairs.length > this.history) {
      const oldest = this.pairs.shift()!;
      tf.dispose([oldest.s, oldest.y]);
    }
  }
}
