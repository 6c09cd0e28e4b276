/**
 * The Wasserstein-2 style loss (crowsonkb/style-transfer-pytorch): the squared 2-Wasserstein
 * distance between Gaussians fitted to the output's and the style's features at a layer of c
 * channels, W = (‖μ − μₛ‖² + tr(Σ + Σₛ − 2(Σₛ^½ Σ Σₛ^½)^½)) / c, μ the mean over positions and
 * Σ the covariance (over h·w) plus 1e-4·I. Its statistics are the mean and the second moment
 * E[ffᵀ], so several styles blend by averaging those. The square roots are Newton–Schulz
 * iterations (matrix products), so the gradient is derived through them.
 */
import { int, ints, type GraphBuilder } from '../graph/builder.js';
import { gramSum, toDouble } from './costs.js';
import type { StyleLoss } from './style.js';

/** Added to each covariance's diagonal: keeps the square roots' inputs positive definite. */
export const W2_EPSILON = 1e-4;
/**
 * Newton–Schulz iterations of the square root per evaluation (bench/README.md, "The W2 style
 * loss"): unconverged on the smallest eigenvalues, so tr √M is a little low and W a little high,
 * never below the true W (a floor that raised tr √M was exploited by the optimiser: W went
 * negative); and no rounding grows into NaN.
 */
export const W2_ITERATIONS = 15;
/** Iterations of the style's own square root, computed once per target, and its floor. */
export const W2_TARGET_ITERATIONS = 24;
export const W2_TARGET_FLOOR = 1e-6;

const identity = (g: GraphBuilder, c: number) =>
  g.floats(
    Float32Array.from({ length: c * c }, (_, i) => (i % (c + 1) === 0 ? 1 : 0)),
    [c, c],
    `identity_${c}`,
  );

/** Rows [from, to) of a [rows, c] matrix. */
const rows = (g: GraphBuilder, x: string, from: number, to: number) =>
  g.op('Slice', [x, g.int64s([from]), g.int64s([to]), g.int64s([0])]);

/**
 * The square root of a symmetric positive semi-definite [c, c] matrix by `iterations` of the
 * coupled Newton–Schulz iteration on A / ‖A‖_F (eigenvalues in [0, 1], where it converges), with
 * `floor`·‖A‖_F added to A's diagonal. Float32 rounding of A (~1e-7·‖A‖_F, far above the
 * covariances' εI at VGG's scale) can leave eigenvalues below zero, which the iteration multiplies
 * by ~2.25 each step: with few iterations they stay negligible; the style's root, taken with more,
 * gets a floor (bench/README.md, "The W2 style loss").
 */
export function sqrtm(g: GraphBuilder, a: string, c: number, iterations: number, floor = 0): string {
  const eye = identity(g, c);
  const norm = g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [a, a])], { keepdims: int(0) })], {}, 'frobenius');
  const normalised = g.op('Div', [a, norm]);
  let y = floor > 0 ? g.op('Add', [normalised, g.op('Mul', [eye, g.scalar(floor)])]) : normalised;
  let z = eye;
  const threeI = g.op('Mul', [eye, g.scalar(3)]);
  for (let k = 0; k < iterations; k++) {
    const t = g.op('Mul', [g.op('Sub', [threeI, g.op('MatMul', [z, y])]), g.scalar(0.5)], {}, 'ns_t');
    y = g.op('MatMul', [y, t], {}, 'ns_y');
    if (k + 1 < iterations) z = g.op('MatMul', [t, z], {}, 'ns_z');
  }
  return g.op('Mul', [y, g.op('Sqrt', [norm])], {}, 'sqrtm');
}

/** εI, added to every covariance. */
const epsilonI = (g: GraphBuilder, c: number) => g.op('Mul', [identity(g, c), g.scalar(W2_EPSILON)]);

/** Σ = E[ffᵀ] − μμᵀ + εI from the statistics [c + 1, c] (row 0 μ, then E[ffᵀ]). */
function covariance(g: GraphBuilder, means: string, c: number): { mean: string; cov: string } {
  const mean = rows(g, means, 0, 1);
  const outer = g.op('MatMul', [g.op('Transpose', [mean], { perm: ints([1, 0]) }), mean]);
  const cov = g.op('Add', [g.op('Sub', [rows(g, means, 1, c + 1), outer]), epsilonI(g, c)], {}, 'covariance');
  return { mean, cov };
}

/**
 * μ [1, c] and Σ = (F − μ)(F − μ)ᵀ/n + εI straight from F [c, n]: the same Σ as `covariance`
 * without E[ffᵀ] − μμᵀ's cancellation, which in float32 leaves noise of ~1e-7·μ² where the
 * features barely vary (a flat image gives negative eigenvalues, and NaN).
 */
function centredCovariance(g: GraphBuilder, flat: string, c: number): { mean: string; cov: string } {
  const column = g.op('ReduceMean', [flat], { axes: ints([1]) }, 'feature_mean');
  const centred = g.op('Sub', [flat, column], {}, 'centred');
  const positions = g.op('CastLike', [g.op('Div', [g.op('Size', [flat]), g.int64s([c], [])]), flat]);
  const product = g.op('MatMul', [centred, g.op('Transpose', [centred], { perm: ints([1, 0]) })]);
  const cov = g.op('Add', [g.op('Div', [product, positions]), epsilonI(g, c)], {}, 'covariance');
  return { mean: g.op('Reshape', [column, g.int64s([1, c])]), cov };
}

/** W from μ, Σ and the prepared target (row 0 μₛ, then Σₛ^½), with `iterations` for the square root. */
function distance(g: GraphBuilder, mean: string, cov: string, target: string, c: number, iterations: number): string {
  const [styleMean, styleRoot] = [rows(g, target, 0, 1), rows(g, target, 1, c + 1)];
  const eye = identity(g, c);
  const traceOf = (m: string) => toDouble(g, g.op('ReduceSum', [g.op('Mul', [m, eye])], { keepdims: int(0) }));
  const d = toDouble(g, g.op('Sub', [mean, styleMean]));
  const meanTerm = g.op('ReduceSum', [g.op('Mul', [d, d])], { keepdims: int(0) });
  const styleCov = g.op('MatMul', [styleRoot, styleRoot]);
  const product = g.op('MatMul', [g.op('MatMul', [styleRoot, cov]), styleRoot], {}, 'w2_product');
  const root = traceOf(sqrtm(g, product, c, iterations));
  const covTerm = g.op('Sub', [g.op('Add', [traceOf(cov), traceOf(styleCov)]), g.op('Mul', [root, g.scalar64(2)])]);
  return g.op('Div', [g.op('Add', [meanTerm, covTerm]), g.scalar64(c)], {}, 'w2_cost');
}

/** The loss with `iterations` Newton–Schulz iterations per evaluation (bench/w2-iterations.mjs varies them). */
export const w2Loss = (iterations: number): StyleLoss => ({
  rows: (c) => c + 1,
  sums: (g, flat, c, weights) => {
    const m = weights ? g.op('Reshape', [weights, g.int64s([1, -1])]) : null;
    const weighted = m ? g.op('Mul', [flat, m]) : flat;
    const sum = g.op('Reshape', [g.op('ReduceSum', [weighted, g.int64s([1])]), g.int64s([1, c])], {}, 'feature_sum');
    return g.op('Concat', [sum, gramSum(g, flat, weights)], { axis: int(0) }, 'w2_sums');
  },
  prepare: (g, means, c) => {
    const { mean, cov } = covariance(g, means, c);
    return g.op(
      'Concat',
      [mean, sqrtm(g, cov, c, W2_TARGET_ITERATIONS, W2_TARGET_FLOOR)],
      { axis: int(0) },
      'w2_target',
    );
  },
  cost: (g, means, target, c) => {
    const { mean, cov } = covariance(g, means, c);
    return distance(g, mean, cov, target, c, iterations);
  },
  direct: (g, flat, target, c) => {
    const { mean, cov } = centredCovariance(g, flat, c);
    return distance(g, mean, cov, target, c, iterations);
  },
});

export const w2 = w2Loss(W2_ITERATIONS);
