import * as tf from '@tensorflow/tfjs';
import type {
  CurvaturePairs,
  CurvaturePairsFactory,
  Evaluate,
  Evaluation,
  HostVector,
  LbfgsKernels,
  LbfgsRuntime,
  Optimizer,
  OptimizerState,
  Pair,
  StepResult,
  StoredPair,
} from './types.js';
import { isHostVector } from './types.js';

export type { Pair };

/** The value of a scalar computed by `fn`, every tensor released. */
function readScalar(fn: () => tf.Tensor): number {
  const t = tf.tidy(fn);
  const value = t.dataSync()[0]!;
  t.dispose();
  return value;
}

/**
 * Σ a·b over all elements. Summed in rows of 16 first, then the rows: the backends' full
 * reduction adds one element after another, a chain of dependent additions, while short rows
 * give independent ones; on the wasm backend the two-loop recursion's dot products take about a
 * third less time at 512 px (bench/README.md, "Default run and presets").
 */
function dot(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const product = tf.mul(a, b);
    return product.size % 16 === 0 ? tf.sum(tf.sum(tf.reshape(product, [-1, 16]), 1)) : tf.sum(product);
  });
}

/** Armijo's sufficient-decrease constant (the usual 1e-4). */
const ARMIJO = 1e-4;
/** Evaluations one line search may spend before it gives up. */
const MAX_LINE_SEARCH = 20;
/** A pair is kept only when the angle between s and y is clearly below 90°: cos(s, y) > this. */
const CURVATURE_EPS = 1e-8;
/** Decay of the running mean of g² behind H₀'s diagonal (Adam's β₂ idea over ~10 iterations). */
export const SQUARED_GRADIENT_DECAY = 0.9;
/**
 * Floor of a pixel's gradient size in H₀'s diagonal, relative to the mean size: a pixel whose
 * gradient is near 0 gets at most 1 / FLOOR times the mean step instead of an unbounded one.
 * 0.01 was measured worse than 0.1 (bench/README.md, "Why not 0.2× on every pair").
 */
export const GRADIENT_FLOOR = 0.1;

/**
 * H₀'s diagonal D from the running mean v of g²: dᵢ = 1 / (√vᵢ + FLOOR·mean √v), scaled to mean 1
 * (γ sets the size). Pixels whose gradients run large (edges, strong style strokes) get
 * proportionally smaller steps, as in Adam; a scalar H₀ gives every pixel the same scale.
 */
export function diagonalScaling(squaredGradient: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const size = tf.sqrt(squaredGradient);
    const d = tf.reciprocal(tf.add(size, tf.mul(tf.mean(size), GRADIENT_FLOOR)));
    return tf.div(d, tf.mean(d)) as tf.Tensor4D;
  });
}

/**
 * H·q by the two-loop recursion over `pairs` (oldest first), with H₀ = γ·D, D = `scaling` and
 * γ = sᵀy / yᵀDy of the newest pair (the scalar that fits H₀ to the newest curvature along D).
 */
export function inverseHessianTimes(q0: tf.Tensor4D, pairs: readonly Pair[], scaling: tf.Tensor4D): tf.Tensor4D {
  const newest = pairs[pairs.length - 1];
  if (!newest) throw new RangeError('the two-loop recursion needs at least one pair');
  const alphas: tf.Scalar[] = [];
  // Each step replaces the vector, so memory stays at a few images beyond the pairs; on an error
  // (out of memory) the vector and the α's are released too.
  let r: tf.Tensor4D = q0.clone();
  const replace = (next: tf.Tensor4D) => {
    r.dispose();
    r = next;
  };
  try {
    for (let i = pairs.length - 1; i >= 0; i--) {
      const { s, y, rho } = pairs[i]!;
      const a = tf.tidy(() => tf.mul(dot(s, r), rho) as tf.Scalar);
      alphas[i] = a;
      replace(tf.tidy(() => tf.sub(r, tf.mul(y, a)) as tf.Tensor4D));
    }
    // γ·D·q with γ = sᵀy / yᵀDy = 1 / (ρ·yᵀDy); the scalar first, so D·y is gone before D·q.
    const inverseGamma = tf.tidy(() => tf.mul(dot(newest.y, tf.mul(scaling, newest.y)), newest.rho));
    try {
      replace(tf.tidy(() => tf.div(tf.mul(scaling, r), inverseGamma) as tf.Tensor4D));
    } finally {
      inverseGamma.dispose();
    }
    for (let i = 0; i < pairs.length; i++) {
      const { s, y, rho } = pairs[i]!;
      replace(tf.tidy(() => tf.add(r, tf.mul(s, tf.sub(alphas[i]!, tf.mul(dot(y, r), rho)))) as tf.Tensor4D));
    }
    return r;
  } catch (error) {
    r.dispose();
    throw error;
  } finally {
    tf.dispose(alphas);
  }
}

/** The pairs as TensorFlow.js tensors and the two-loop recursion over them (`inverseHessianTimes`). */
export class TensorPairs implements CurvaturePairs {
  private pairs: Pair[] = [];

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.pairs.length;
  }

  readonly offset = 0;

  async push(s: tf.Tensor4D, y: tf.Tensor4D, rho: number): Promise<void> {
    this.pairs.push({ s: s.clone(), y: y.clone(), rho });
    if (this.pairs.length > this.capacity) {
      const oldest = this.pairs.shift()!;
      tf.dispose([oldest.s, oldest.y]);
    }
  }

  async times(q: tf.Tensor4D, scaling: tf.Tensor4D): Promise<tf.Tensor4D> {
    return inverseHessianTimes(q, this.pairs, scaling);
  }

  list(): readonly Pair[] {
    return this.pairs;
  }

  restore(pairs: readonly StoredPair[]): void {
    this.clear();
    this.pairs = pairs.slice(-this.capacity).map(({ s, y, rho }) => ({ s: tensorOf(s), y: tensorOf(y), rho }));
  }

  clear(): void {
    for (const { s, y } of this.pairs) tf.dispose([s, y]);
    this.pairs = [];
  }

  dispose(): void {
    this.clear();
  }
}

/** A copy of a stored vector as a tensor. */
const tensorOf = (v: tf.Tensor4D | HostVector): tf.Tensor4D =>
  isHostVector(v) ? tf.tensor4d(v.data, v.shape as [number, number, number, number]) : v.clone();

/** Pairs on TensorFlow.js, where no engine holds them. */
export const tensorPairs: CurvaturePairsFactory = (capacity) => new TensorPairs(capacity);

/** The step's element-wise arithmetic on TensorFlow.js. */
export const tensorKernels: LbfgsKernels = {
  async project(x, g, v) {
    const next = tf.tidy(() =>
      v ? tf.add(tf.mul(v, SQUARED_GRADIENT_DECAY), tf.mul(tf.square(g), 1 - SQUARED_GRADIENT_DECAY)) : tf.square(g),
    ) as tf.Tensor4D;
    const [free, pg, norm] = tf.tidy(() => {
      const outward = tf.logicalOr(
        tf.logicalAnd(tf.lessEqual(x, 0), tf.greater(g, 0)),
        tf.logicalAnd(tf.greaterEqual(x, 1), tf.less(g, 0)),
      );
      const free = tf.cast(tf.logicalNot(outward), 'float32') as tf.Tensor4D;
      const pg = tf.mul(g, free) as tf.Tensor4D;
      return [free, pg, tf.max(tf.abs(pg))];
    });
    const value = norm.dataSync()[0]!;
    norm.dispose();
    return { v: next, free, pg, norm: value, scaling: diagonalScaling(next) };
  },
  async descent(r, free, g) {
    const d = tf.tidy(() => tf.neg(tf.mul(r, free)) as tf.Tensor4D);
    return { d, slope: readScalar(() => dot(g, d)) };
  },
  async trial(x, d, t, g) {
    const trial = tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(d, t)), 0, 1) as tf.Tensor4D);
    return { trial, decrease: readScalar(() => dot(g, tf.sub(trial, x))) };
  },
  async pair(x, g, xNext, gNext) {
    const s = tf.sub(xNext, x) as tf.Tensor4D;
    const y = tf.sub(gNext, g) as tf.Tensor4D;
    const dots = tf.tidy(() => tf.stack([dot(y, s), dot(s, s), dot(y, y)]));
    const [ys, ss, yy] = dots.dataSync();
    dots.dispose(); // three numbers in one read
    return { s, y, ys: ys!, ss: ss!, yy: yy! };
  },
};

/** L-BFGS wholly on TensorFlow.js. */
export const TENSORFLOW_LBFGS: LbfgsRuntime = { pairs: tensorPairs, kernels: tensorKernels };

/**
 * Limited-memory BFGS with the pixel bounds [0, 1] (a projected L-BFGS), on tensors.
 *
 * Each iteration: the variables at a bound whose gradient points outward (x = 0 with g > 0, x = 1
 * with g < 0) are fixed for this iteration; the others are free. The projected gradient is the
 * gradient with the fixed components zeroed. The direction is the two-loop recursion over the
 * last `history` (s, y) pairs applied to the projected gradient, with a diagonal H₀ = γ·D: D from a
 * running mean of g² per pixel (`diagonalScaling`), γ = sᵀy / yᵀDy from the newest pair; it passes
 * a given cost in 2–6% fewer iterations than the scalar H₀ = (sᵀy / yᵀy)·I on the benchmark's
 * pairs (bench/README.md). The direction is again zeroed on the fixed components. The step is
 * P(x + t·d), P the clipping to [0, 1], from t = 1, backtracking (quadratic interpolation, kept
 * within [0.1, 0.5] of the previous t) until the projected point decreases the cost sufficiently:
 * f(P(x + t·d)) < f(x) and f(P(x + t·d)) ≤ f(x) + c₁·gᵀ(P(x + t·d) − x) (Armijo along the
 * projected step). If no such t is found, or d is not a descent direction, the history is dropped
 * and a projected steepest-descent step is tried; if that fails too the optimizer reports
 * `stalled`.
 *
 * Stops (`converged`) when the projected gradient's max-norm falls to `tolerance` times its
 * initial value, or when a quasi-Newton step decreases the cost by less than `tolerance` relative
 * to it. Tolerance 0 runs the whole budget.
 */
export class LBFGS implements Optimizer {
  private readonly pairs: CurvaturePairs;
  private readonly kernels: LbfgsKernels;
  /** Max-norm of the first projected gradient, the scale of the gradient tolerance. */
  private initialGradNorm: number | null = null;
  /** Running mean of the squared gradient, per pixel: the shape of H₀ (see `diagonalScaling`). */
  private squaredGradient: tf.Tensor4D | null = null;

  /**
   * @param history number of (s, y) pairs kept (jcjohnson's neural-style uses 100).
   * @param tolerance relative tolerance of the stopping tests (see the class comment).
   * @param firstStep largest pixel change of a step taken without curvature information (the first
   *   one, or after a reset): the gradient alone says nothing about how far to go, and its scale
   *   follows the cost weights (α, β, var), so the step is set in pixel units instead. 0.01 is
   *   the move of Adam's first step at its default rate, a safe move on this objective; the
   *   pair it produces then gives the quasi-Newton steps their scale.
   * @param runtime where the pairs are held and the arithmetic done (an engine's, or TensorFlow.js').
   */
  constructor(
    readonly history = 100,
    readonly tolerance = 1e-6,
    readonly firstStep = 0.01,
    runtime: LbfgsRuntime = TENSORFLOW_LBFGS,
  ) {
    if (!Number.isInteger(history) || history < 1) throw new RangeError('history must be a positive integer');
    if (!(tolerance >= 0)) throw new RangeError('tolerance must be a non-negative number');
    this.pairs = runtime.pairs(history);
    this.kernels = runtime.kernels;
  }

  async step(x: tf.Tensor4D, current: Evaluation, evaluate: Evaluate): Promise<StepResult> {
    const f = current.costs.total;
    const g = current.gradient;
    const { v, free, pg, norm, scaling } = await this.kernels.project(x, g, this.squaredGradient);
    this.squaredGradient?.dispose();
    this.squaredGradient = v;
    try {
      const initial = (this.initialGradNorm ??= norm);
      if (norm === 0 || norm <= this.tolerance * initial) return { stop: 'converged' };
      for (;;) {
        const fresh = this.pairs.length === 0;
        let descent = fresh ? null : await this.direction(pg, free, scaling, g);
        let t = 1;
        if (!descent || !(descent.slope < 0)) {
          descent?.d.dispose();
          this.reset();
          descent = await this.kernels.descent(pg, free, g); // steepest descent: −pg, slope −pgᵀpg
          t = this.firstStep / norm;
        }
        let found;
        try {
          found = await this.lineSearch(x, f, g, descent.d, descent.slope, t, evaluate);
        } finally {
          descent.d.dispose();
        }
        if (found) {
          const converged =
            !fresh && this.pairs.length > 0 && (f - found.evaluation.costs.total) / Math.abs(f) < this.tolerance;
          await this.remember(x, g, found.image, found.evaluation.gradient);
          return { ...found, converged };
        }
        if (this.pairs.length === 0) return { stop: 'stalled' };
        this.reset(); // the curvature information led nowhere: start again from steepest descent
      }
    } finally {
      tf.dispose([free, pg, scaling]);
    }
  }

  getState(): OptimizerState {
    const tensors: Record<string, tf.Tensor> = {};
    const arrays: Record<string, HostVector> = {};
    const put = (name: string, v: tf.Tensor | HostVector) =>
      isHostVector(v) ? (arrays[name] = v) : (tensors[name] = v);
    const pairs = this.pairs.list();
    const values: Record<string, number> = { pairs: pairs.length };
    if (this.pairs.offset !== 0) values['pairsOffset'] = this.pairs.offset;
    pairs.forEach(({ s, y, rho }, i) => {
      put(`s${i}`, s);
      put(`y${i}`, y);
      values[`rho${i}`] = rho;
    });
    if (this.initialGradNorm !== null) values['initialGradNorm'] = this.initialGradNorm;
    if (this.squaredGradient) tensors['squaredGradient'] = this.squaredGradient;
    return Object.keys(arrays).length > 0 ? { tensors, values, arrays } : { tensors, values };
  }

  setState(state: OptimizerState): void {
    const { tensors, values, arrays = {} } = state;
    const stored = (name: string) => (tensors[name] ?? arrays[name]) as tf.Tensor4D | HostVector;
    const pairs = Array.from({ length: values['pairs'] ?? 0 }, (_, i) => ({
      s: stored(`s${i}`),
      y: stored(`y${i}`),
      rho: values[`rho${i}`]!,
    }));
    this.pairs.restore(pairs, values['pairsOffset']);
    this.initialGradNorm = values['initialGradNorm'] ?? null;
    this.squaredGradient?.dispose();
    this.squaredGradient = (tensors['squaredGradient']?.clone() as tf.Tensor4D | undefined) ?? null;
  }

  dispose(): void {
    this.pairs.dispose();
    this.squaredGradient?.dispose();
    this.squaredGradient = null;
  }

  /** Drops the stored pairs. */
  private reset(): void {
    this.pairs.clear();
  }

  /** d = −H·pg by the two-loop recursion, zeroed on the fixed variables, and its slope gᵀd. */
  private async direction(pg: tf.Tensor4D, free: tf.Tensor4D, scaling: tf.Tensor4D, g: tf.Tensor4D) {
    const r = await this.pairs.times(pg, scaling);
    try {
      return await this.kernels.descent(r, free, g);
    } finally {
      r.dispose();
    }
  }

  /**
   * Backtracking along the projected path P(x + t·d) from `t`; returns the first point with
   * sufficient decrease and its evaluation, or null after MAX_LINE_SEARCH evaluations.
   * `slope` is gᵀd, the derivative at t = 0 before projection, used for the interpolation.
   */
  private async lineSearch(
    x: tf.Tensor4D,
    f: number,
    g: tf.Tensor4D,
    d: tf.Tensor4D,
    slope: number,
    t: number,
    evaluate: Evaluate,
  ): Promise<{ image: tf.Tensor4D; evaluation: Evaluation } | null> {
    for (let k = 0; k < MAX_LINE_SEARCH; k++) {
      // decrease = gᵀ(P(x + t·d) − x), < 0 along a descent path
      const { trial, decrease } = await this.kernels.trial(x, d, t, g);
      let evaluation: Evaluation;
      try {
        evaluation = await evaluate(trial);
      } catch (error) {
        trial.dispose();
        throw error;
      }
      const ft = evaluation.costs.total;
      if (ft < f && ft <= f + ARMIJO * decrease) return { image: trial, evaluation };
      tf.dispose([trial, evaluation.gradient]);
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
  private async remember(x: tf.Tensor4D, g: tf.Tensor4D, xNext: tf.Tensor4D, gNext: tf.Tensor4D): Promise<void> {
    const { s, y, ys, ss, yy } = await this.kernels.pair(x, g, xNext, gNext);
    try {
      if (ys > CURVATURE_EPS * Math.sqrt(ss * yy)) await this.pairs.push(s, y, 1 / ys);
    } finally {
      tf.dispose([s, y]);
    }
  }
}
