/**
 * The Wasserstein-2 style loss in float64 with exact matrix square roots (a Jacobi
 * eigendecomposition), written from its definition, independent of the Newton–Schulz iterations
 * of the graph: W = (‖μ − μₛ‖² + tr(Σ + Σₛ − 2(Σₛ^½ Σ Σₛ^½)^½)) / c, and dW/dF.
 */
import type { Map64 } from './onnx-reference.js';

export const EPSILON = 1e-4;
/** The style's square root: its floor relative to its input's Frobenius norm (w2.ts W2_TARGET_FLOOR). */
export const FLOOR = 1e-6;
/** Newton–Schulz iterations of the evaluation's square root (w2.ts W2_ITERATIONS). */
export const ITERATIONS = 15;

/** Eigenvalues and eigenvectors (columns of v) of a symmetric n × n matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30 * n * n) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const [akp, akq] = [a[k * n + p]!, a[k * n + q]!];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const [apk, aqk] = [a[p * n + k]!, a[q * n + k]!];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const [vkp, vkq] = [v[k * n + p]!, v[k * n + q]!];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: v };
}

/** V f(Λ) Vᵀ of a symmetric matrix. */
export function matrixFunction(a: Float64Array, n: number, f: (x: number) => number): Float64Array {
  const { values, vectors: v } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const fk = f(values[k]!);
    for (let i = 0; i < n; i++) {
      const vik = v[i * n + k]! * fk;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * v[j * n + k]!;
    }
  }
  return out;
}

export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j]!;
    }
  return out;
}

const trace = (a: Float64Array, n: number) =>
  Array.from({ length: n }, (_, i) => a[i * n + i]!).reduce((s, x) => s + x, 0);

/** The statistics of a layer as the graph packs them, [c + 1, c]: the mean, then E[ffᵀ]. */
export function w2Stats64(f: Map64): Float64Array {
  const { c } = f;
  const n = f.h * f.w;
  const out = new Float64Array((c + 1) * c);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < c; i++) {
      const a = f.data[p * c + i]!;
      out[i] += a / n;
      for (let j = 0; j < c; j++) out[(i + 1) * c + j] += (a * f.data[p * c + j]!) / n;
    }
  }
  return out;
}

/** μ and Σ = E[ffᵀ] − μμᵀ + εI from packed statistics. */
export function meanCov(stats: Float64Array, c: number): { mean: Float64Array; cov: Float64Array } {
  const mean = stats.slice(0, c);
  const cov = new Float64Array(c * c);
  for (let i = 0; i < c; i++)
    for (let j = 0; j < c; j++)
      cov[i * c + j] = stats[(i + 1) * c + j]! - mean[i]! * mean[j]! + (i === j ? EPSILON : 0);
  return { mean, cov };
}

const frobenius = (a: Float64Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

/** B = A/N + δI of a symmetric matrix, with N = ‖A‖_F. */
function floored(a: Float64Array, n: number): { b: Float64Array; norm: number } {
  const norm = frobenius(a);
  return { b: a.map((x, k) => x / norm + (k % (n + 1) === 0 ? FLOOR : 0)), norm };
}

/** The graph's square root √N·(A/N + δI)^½. */
export function sqrtm64(a: Float64Array, n: number): Float64Array {
  const { b, norm } = floored(a, n);
  return matrixFunction(b, n, Math.sqrt).map((x) => x * Math.sqrt(norm));
}

/** The target the graph's cost takes, [c + 1, c]: μₛ, then Σₛ^½ (exact). */
export function w2Target64(stats: Float64Array, c: number): Float64Array {
  const { mean, cov } = meanCov(stats, c);
  const out = new Float64Array((c + 1) * c);
  out.set(mean);
  out.set(sqrtm64(cov, c), c);
  return out;
}

/**
 * tr of ITERATIONS coupled Newton–Schulz steps towards √M (as the graph takes them), and its
 * derivative w.r.t. M, by the iteration's reverse pass.
 */
export function newtonSchulzTrace(m: Float64Array, c: number): { value: number; dM: Float64Array } {
  const eye = Float64Array.from({ length: c * c }, (_, k) => (k % (c + 1) === 0 ? 1 : 0));
  const norm = frobenius(m);
  const ys: Float64Array[] = [m.map((x) => x / norm)];
  const zs: Float64Array[] = [eye];
  const ts: Float64Array[] = [];
  for (let k = 0; k < ITERATIONS; k++) {
    const zy = matmul(zs[k]!, ys[k]!, c);
    const t = zy.map((x, i) => (3 * eye[i]! - x) / 2);
    ts.push(t);
    ys.push(matmul(ys[k]!, t, c));
    zs.push(matmul(t, zs[k]!, c));
  }
  const value = trace(ys[ITERATIONS]!, c) * Math.sqrt(norm);
  // Backwards: Y_{k+1} = Y_k T_k, Z_{k+1} = T_k Z_k, T_k = (3I − Z_k Y_k)/2.
  const transpose = (a: Float64Array) => a.map((_, k) => a[(k % c) * c + Math.floor(k / c)]!);
  let dY = eye.map((x) => x * Math.sqrt(norm));
  let dZ = new Float64Array(c * c);
  for (let k = ITERATIONS - 1; k >= 0; k--) {
    const [y, z, t] = [ys[k]!, zs[k]!, ts[k]!];
    const dT = matmul(transpose(y), dY, c);
    const dTz = matmul(dZ, transpose(z), c);
    dT.forEach((_, i) => (dT[i]! += dTz[i]!));
    const dYk = matmul(dY, transpose(t), c);
    const dZk = matmul(transpose(t), dZ, c);
    const fromTz = matmul(dT, transpose(y), c);
    const fromTy = matmul(transpose(z), dT, c);
    dY = dYk.map((x, i) => x - fromTy[i]! / 2);
    dZ = dZk.map((x, i) => x - fromTz[i]! / 2);
  }
  // Y_0 = M/N, N = ‖M‖_F; and the output's √N.
  const dN = trace(ys[ITERATIONS]!, c) / (2 * Math.sqrt(norm)) - dY.reduce((s, x, i) => s + x * m[i]!, 0) / norm ** 2;
  return { value, dM: dY.map((x, i) => x / norm + (dN * m[i]!) / norm) };
}

/** W of a layer's features against the style's packed statistics, and dW/dF ([h][w][c]). */
export function w2Layer(f: Map64, styleStats: Float64Array): { cost: number; dF: Float64Array } {
  const { c } = f;
  const n = f.h * f.w;
  const { mean, cov } = meanCov(w2Stats64(f), c);
  const style = meanCov(styleStats, c);
  const root = sqrtm64(style.cov, c);
  const styleCov = matmul(root, root, c);
  const m = matmul(matmul(root, cov, c), root, c);
  const { value: rootTrace, dM } = newtonSchulzTrace(m, c);
  const meanTerm = mean.reduce((s, x, i) => s + (x - style.mean[i]!) ** 2, 0);
  const cost = (meanTerm + trace(cov, c) + trace(styleCov, c) - 2 * rootTrace) / c;
  // dW/dΣ = (I − 2R (dtr/dM) R)/c; dW/dμ = 2(μ − μₛ)/c − 2·(dW/dΣ)·μ; dW/dF_p = (2/n)(dW/dΣ) f_p + (1/n) dW/dμ.
  const rfr = matmul(matmul(root, dM, c), root, c);
  const dCov = rfr.map((x, i) => ((i % (c + 1) === 0 ? 1 : 0) - 2 * x) / c);
  const dMean = mean.map((x, i) => {
    let s = 0;
    for (let j = 0; j < c; j++) s += dCov[i * c + j]! * mean[j]!;
    return (2 * (x - style.mean[i]!)) / c - 2 * s;
  });
  const dF = new Float64Array(n * c);
  for (let p = 0; p < n; p++)
    for (let i = 0; i < c; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += dCov[i * c + j]! * f.data[p * c + j]!;
      dF[p * c + i] = (2 * s) / n + dMean[i]! / n;
    }
  return { cost, dF };
}
