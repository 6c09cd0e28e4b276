import * as tf from '@tensorflow/tfjs';
import type { PreserveColors } from './settings.js';

export type { PreserveColors };

/**
 * Colour control (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016):
 * - 'luminance': style transfer on the luminance channel only; the result's luminance is combined
 *   with the content's chroma (YIQ). The style's luminance is first matched to the content's in
 *   mean and standard deviation, so that the style brings texture, not a brightness shift.
 * - 'histogram': the style image's colours are mapped so that their mean and covariance (RGB)
 *   equal the content's, before the run.
 * - 'swap': a normal run, then the content's chroma is put back (what the classic tools do).
 */

type Matrix3 = [[number, number, number], [number, number, number], [number, number, number]];

/** RGB → YIQ (NTSC, FCC coefficients): Y is the luminance, I and Q the chroma. */
export const RGB_TO_YIQ: Matrix3 = [
  [0.299, 0.587, 0.114],
  [0.5959, -0.2746, -0.3213],
  [0.2115, -0.5227, 0.3112],
];

function invert3(m: Matrix3): Matrix3 {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}

/** YIQ → RGB, the exact inverse of RGB_TO_YIQ (its first column is 1 to about 1e-4). */
export const YIQ_TO_RGB: Matrix3 = invert3(RGB_TO_YIQ);

/** Applies a 3×3 colour matrix to every pixel of [..., 3]: out = m · rgb. */
function transformPixels<T extends tf.Tensor>(image: T, m: Matrix3): T {
  return tf.tidy(() => {
    const flat = tf.reshape(image, [-1, 3]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(flat, tf.tensor2d(m).transpose()), image.shape) as T;
  });
}

export const rgbToYiq = <T extends tf.Tensor>(image: T): T => transformPixels(image, RGB_TO_YIQ);
export const yiqToRgb = <T extends tf.Tensor>(image: T): T => transformPixels(image, YIQ_TO_RGB);

/** The luminance Y of an RGB image [..., 3], repeated in all three channels (a grey RGB image). */
export function luminance<T extends tf.Tensor>(image: T): T {
  return tf.tidy(() => {
    const y = tf.sum(tf.mul(image, tf.tensor1d(RGB_TO_YIQ[0])), -1, true);
    return tf.tile(y, [...Array(image.rank - 1).fill(1), 3]) as T;
  });
}

/** Mean and standard deviation of all values of a tensor, as numbers. */
function moments(x: tf.Tensor): { mean: number; std: number } {
  const m = tf.moments(x);
  const [mean, variance] = [m.mean.dataSync()[0]!, m.variance.dataSync()[0]!];
  tf.dispose([m.mean, m.variance]);
  return { mean, std: Math.sqrt(variance) };
}

/**
 * The style's luminance matched to the content's: Y' = (Y_s − μ_s)·σ_c/σ_s + μ_c, as a grey RGB
 * image. Not clipped: it is only a target for the features, and clipping would undo the match.
 */
export function matchLuminance<T extends tf.Tensor>(style: T, content: tf.Tensor): T {
  return tf.tidy(() => {
    const ys = luminance(style);
    const s = moments(ys);
    const c = moments(luminance(content));
    const gain = s.std > 0 ? c.std / s.std : 1;
    return tf.add(tf.mul(tf.sub(ys, s.mean), gain), c.mean) as T;
  });
}

/**
 * The luminance of `styled` with the chroma (I, Q) of `content`, both RGB [..., 3] in [0, 1].
 * RGB = Y·1 + (terms in I and Q), so for fixed chroma each channel is increasing in Y; where the
 * styled luminance would push a channel out of [0, 1] it is clamped to the range of Y that keeps
 * all three inside. The chroma is then exactly the content's (the content's own Y lies in that
 * range, so it is never empty), instead of being bent by clipping the channels afterwards.
 */
export function withContentColors<T extends tf.Tensor>(styled: T, content: tf.Tensor): T {
  return tf.tidy(() => {
    const y = tf.sum(tf.mul(styled, tf.tensor1d(RGB_TO_YIQ[0])), -1, true);
    // The content's chroma with Y = 0: its contribution d to each channel.
    const lead = Array(content.rank - 1).fill(0);
    const iq = tf.concat([tf.zerosLike(y), tf.slice(rgbToYiq(content), [...lead, 1], [...lead.map(() => -1), 2])], -1);
    // Each channel c is a_c·Y + d_c with d the chroma's contribution.
    const a = YIQ_TO_RGB.map((row) => row[0]);
    const d = transformPixels(iq, YIQ_TO_RGB);
    const aT = tf.tensor1d(a);
    const lower = tf.max(tf.div(tf.neg(d), aT), -1, true);
    const upper = tf.min(tf.div(tf.sub(1, d), aT), -1, true);
    const clamped = tf.minimum(tf.maximum(y, lower), upper);
    return tf.clipByValue(tf.add(tf.mul(clamped, aT), d), 0, 1) as T;
  });
}

/** Mean [3] and covariance [3][3] of the pixels of an RGB image, in float64. */
export function colorStatistics(image: tf.Tensor): { mean: number[]; cov: number[][] } {
  const data = image.dataSync();
  const n = data.length / 3;
  const mean = [0, 0, 0];
  for (let p = 0; p < data.length; p += 3) for (let c = 0; c < 3; c++) mean[c]! += data[p + c]! / n;
  const cov = [0, 1, 2].map(() => [0, 0, 0]);
  for (let p = 0; p < data.length; p += 3) {
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 3; c++) cov[r]![c]! += ((data[p + r]! - mean[r]!) * (data[p + c]! - mean[c]!)) / n;
  }
  return { mean, cov };
}

/** Lower-triangular L with L·Lᵀ = m (m symmetric positive definite, 3×3). */
function cholesky(m: number[][]): number[][] {
  const l = [0, 1, 2].map(() => [0, 0, 0]);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = m[i]![j]!;
      for (let k = 0; k < j; k++) sum -= l[i]![k]! * l[j]![k]!;
      l[i]![j] = i === j ? Math.sqrt(Math.max(sum, 0)) : sum / l[j]![j]!;
    }
  }
  return l;
}

/**
 * The style image with its colour distribution matched to the content's (both raw RGB, 0..255):
 * x' = A·(x − μ_s) + μ_c with A = L_c·L_s⁻¹ (Cholesky factors of the covariances), so that x' has
 * the content's mean and covariance. A small ridge keeps a flat (e.g. grey) style invertible.
 * Clipped to 0..255: the result is an image.
 */
export function matchColorHistogram(style: tf.Tensor3D, content: tf.Tensor3D): tf.Tensor3D {
  const s = colorStatistics(style);
  const c = colorStatistics(content);
  const ridge = (cov: number[][]) => cov.map((row, i) => row.map((v, j) => v + (i === j ? 1e-3 : 0)));
  const ls = cholesky(ridge(s.cov));
  const lc = cholesky(ridge(c.cov));
  const lsInv = invert3(ls as Matrix3);
  const a = [0, 1, 2].map((i) =>
    [0, 1, 2].map((j) => [0, 1, 2].reduce((sum, k) => sum + lc[i]![k]! * lsInv[k]![j]!, 0)),
  ) as Matrix3;
  return tf.tidy(() => {
    const centred = tf.sub(style, tf.tensor1d(s.mean));
    return tf.clipByValue(tf.add(transformPixels(centred, a), tf.tensor1d(c.mean)), 0, 255) as tf.Tensor3D;
  });
}
