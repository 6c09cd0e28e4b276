/**
 * The cost terms of Gatys et al.'s objective as graph nodes, each in one place; their gradients
 * are derived (graph/autodiff.ts). Costs are summed in float64: a float32 sum of 512² terms is off
 * by ~1e-5. A weight map m (a tile's share of each position, [h, w]) makes a term a weighted sum
 * over positions, which tiles add up to the whole image's.
 */
import { DOUBLE, FLOAT, int, ints, type GraphBuilder } from '../graph/builder.js';

/** An end past any dimension, for Slice. */
const TO_END = Number.MAX_SAFE_INTEGER;

export const toDouble = (g: GraphBuilder, x: string) => g.op('Cast', [x], { to: int(DOUBLE) }, 'double');
export const toFloat = (g: GraphBuilder, x: string) => g.op('Cast', [x], { to: int(FLOAT) }, 'float');

/** A tensor's element count as a scalar of `like`'s type. */
export const countOf = (g: GraphBuilder, x: string, like: string) =>
  g.op('CastLike', [g.op('Size', [x]), like], {}, 'count');

/** Σ of all values, keeping the type. */
export const sumAll = (g: GraphBuilder, x: string) => g.op('ReduceSum', [x], { keepdims: int(0) }, 'sum');

/** F [1, c, h, w] → [c, h·w]. */
export const flatten = (g: GraphBuilder, f: string, c: number) => g.op('Reshape', [f, g.int64s([c, -1])], {}, 'flat');

/** F [c, n] with each position's column scaled by √m, m [h, w] (so that (F√m)(F√m)ᵀ = F diag(m) Fᵀ). */
export const weighByPosition = (g: GraphBuilder, flat: string, m: string) =>
  g.op('Mul', [flat, g.op('Reshape', [g.op('Sqrt', [m]), g.int64s([1, -1])])], {}, 'weighted_flat');

/** Σₚ m(p)·|Fₚ − Pₚ|² (float64) over a content layer's values; without m every position weighs 1. */
export function contentSquares(g: GraphBuilder, f: string, target: string, weights?: string): string {
  const diff = toDouble(g, g.op('Sub', [f, target], {}, 'content_diff'));
  const squares = g.op('Mul', [diff, diff], {}, 'content_squares');
  return sumAll(g, weights ? g.op('Mul', [squares, toDouble(g, weights)]) : squares);
}

/** The content cost of one layer: mean((F − P)²). */
export const contentCost = (g: GraphBuilder, f: string, target: string) =>
  g.op('Div', [contentSquares(g, f, target), countOf(g, f, g.scalar64(0))], {}, 'content_cost');

/** Σₚ m(p)·Fₚ Fₚᵀ [c, c] of F [c, n]: a Gram matrix before dividing by the positions. */
export function gramSum(g: GraphBuilder, flat: string, weights?: string): string {
  const a = weights ? weighByPosition(g, flat, weights) : flat;
  return g.op('MatMul', [a, g.op('Transpose', [a], { perm: ints([1, 0]) })], {}, 'ffT');
}

/** Positions of F [c, n] as a float scalar. */
export const positionsOf = (g: GraphBuilder, flat: string, c: number) =>
  g.op('Div', [countOf(g, flat, g.scalar(0)), g.scalar(c)], {}, 'positions');

/** The style cost of one layer: mean((G − A)²), G the Gram matrix [c, c], A the target's. */
export function gramCost(g: GraphBuilder, gram: string, target: string): string {
  const diff = toDouble(g, g.op('Sub', [gram, target], {}, 'gram_diff'));
  return g.op('ReduceMean', [g.op('Mul', [diff, diff])], { keepdims: int(0) }, 'gram_cost');
}

/**
 * The variational cost of an NHWC image [1, h, w, 3], tf.image.total_variation: Σ|x[i+1] − x[i]|
 * over rows and columns (its gradient uses sign(0) = 0, as TensorFlow's). With a weight map m
 * [h, w], each pair weighs what its first pixel does.
 */
export function variationCost(g: GraphBuilder, image: string, weights?: string): string {
  const slice = (x: string, start: number, end: number, axis: number) =>
    g.op('Slice', [x, g.int64s([start]), g.int64s([end]), g.int64s([axis])], {}, 'tv_slice');
  const sums = [1, 2].map((axis) => {
    const d = toDouble(g, g.op('Abs', [g.op('Sub', [slice(image, 1, TO_END, axis), slice(image, 0, -1, axis)])]));
    if (!weights) return sumAll(g, d);
    // [h', w'] → [h', w', 1]: one weight for the three channels of a pair.
    const m = g.op('Unsqueeze', [slice(weights, 0, -1, axis - 1), g.int64s([2])], {}, 'tv_weights');
    return sumAll(g, g.op('Mul', [d, toDouble(g, m)]));
  });
  return g.op('Add', sums, {}, 'variation_cost');
}

/**
 * The temporal cost of Ruder et al.: the mean over an NHWC image's values [1, h, w, 3] of
 * c·(x − x̃)², x̃ the target (the previous stylised frame warped by the flow) and c [1, h, w, 1] a
 * weight per pixel (0 where the flow cannot be trusted).
 */
export function temporalCost(g: GraphBuilder, image: string, target: string, weights: string): string {
  const diff = toDouble(g, g.op('Sub', [image, target], {}, 'temporal_diff'));
  const squares = g.op('Mul', [g.op('Mul', [diff, diff]), toDouble(g, weights)], {}, 'temporal_squares');
  return g.op('Div', [sumAll(g, squares), countOf(g, image, g.scalar64(0))], {}, 'temporal_cost');
}
