/** What the tests of L-BFGS share: H·q computed independently in float64, and a bounded test problem. */
import * as tf from '@tensorflow/tfjs';
import type { Evaluation } from '../../src/optim/types.js';
import { randomArray } from '../helpers.js';

/** Pairs (s, y = A·s) of n-vectors from these seeds, A = I + BᵀB symmetric positive definite (so yᵀs > 0). */
export function positivePairs(n: number, seeds: readonly number[]): { s: Float64Array; y: Float64Array }[] {
  const B = randomArray(n * n, 11);
  const A = (s: Float64Array) =>
    Float64Array.from({ length: n }, (_, i) => {
      let t = s[i]!;
      for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) t += B[k * n + i]! * B[k * n + j]! * s[j]!;
      return t;
    });
  return seeds.map((seed) => {
    const s = randomArray(n, seed);
    return { s, y: A(s) };
  });
}

/**
 * H·q in float64 from the dense BFGS updates, H ← (I − ρsyᵀ) H (I − ρysᵀ) + ρssᵀ from H₀ = γ·diag(D),
 * D from v as the class comment defines it: an independent route to what the two-loop recursion gives.
 */
export function denseInverseHessianTimes(
  q: Float64Array,
  pairs: { s: Float64Array; y: Float64Array }[],
  v: Float64Array,
) {
  const n = q.length;
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((t, x) => t + x, 0) / a.length;
  const size = v.map(Math.sqrt);
  const d = size.map((x) => 1 / (x + 0.1 * mean(size)));
  const D = d.map((x) => x / mean(d));
  const dotf = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((t, x, i) => t + x * b[i]!, 0);
  const newest = pairs[pairs.length - 1]!;
  const gamma =
    dotf(newest.s, newest.y) /
    dotf(
      newest.y,
      newest.y.map((x, i) => D[i]! * x),
    );
  let H = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? gamma * D[i]! : 0)));
  for (const { s, y } of pairs) {
    const rho = 1 / dotf(y, s);
    const V = (i: number, j: number) => (i === j ? 1 : 0) - rho * y[i]! * s[j]!; // I − ρysᵀ
    const HV = H.map((row) => Array.from({ length: n }, (_, j) => row.reduce((t, h, k) => t + h * V(k, j), 0)));
    H = HV.map((_, i) =>
      Array.from({ length: n }, (_, j) => HV.reduce((t, row, k) => t + V(k, i) * row[j]!, 0) + rho * s[i]! * s[j]!),
    );
  }
  return H.map((row) => dotf(row, q));
}

/** f(x) = Σ wᵢ (xᵢ − cᵢ)², with targets outside [0, 1] too: the bounded optimum is clip(c, 0, 1). */
export function boundedQuadratic(n: number) {
  const c = tf.tensor4d(Float32Array.from(randomArray(n * n * 3, 5, -0.5, 1.5)), [1, n, n, 3]);
  const w = tf.tensor4d(Float32Array.from(randomArray(n * n * 3, 6, 1, 100)), [1, n, n, 3]); // condition number 100
  const evaluate = async (x: tf.Tensor4D): Promise<Evaluation> => {
    const [gradient, total] = tf.tidy(() => {
      const r = tf.sub(x, c);
      return [tf.mul(tf.mul(r, w), 2) as tf.Tensor4D, tf.sum(tf.mul(tf.square(r), w))];
    });
    const value = total.dataSync()[0]!;
    total.dispose();
    return { gradient, costs: { total: value, content: value, style: 0, variation: 0 } };
  };
  return { c, w, evaluate, dispose: () => tf.dispose([c, w]) };
}
