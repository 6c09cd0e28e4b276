/**
 * Masks: where each style goes (`styleMasks`, one per style image), and where the output is
 * stylised at all (`mask`, the rest keeping the photo). A mask is an image whose grey level says
 * how much (white: fully); it is stretched to the working size at each scale. The engine matches
 * each region's own statistics (engine/regions.ts); the output is composited with the photo
 * through the subject mask, softened so that no hard edge shows.
 */
import * as tf from '@tensorflow/tfjs';
import type { StyleRegions } from '../engine/regions.js';

/** A raw image [h, w, 3] (0..255) as a mask [h, w] in [0, 1]: its grey level. */
export const greyMask = (image: tf.Tensor3D): tf.Tensor2D =>
  tf.tidy(() => tf.clipByValue(tf.div(tf.mean(image, 2), 255), 0, 1) as tf.Tensor2D);

/** A mask [H, W] stretched to [h, w] (bilinear; new tensor). */
export const maskAt = (mask: tf.Tensor2D, h: number, w: number): tf.Tensor2D =>
  tf.tidy(() => tf.squeeze(tf.image.resizeBilinear(tf.expandDims(mask, 2) as tf.Tensor3D, [h, w]), [2]));

/** The masks of a run, grey, at the size they were given. */
export interface RunMasks {
  /** One per style image: where it goes. */
  style: readonly tf.Tensor2D[] | null;
  /** Where the output is stylised (already inverted where asked). */
  subject: tf.Tensor2D | null;
}

/**
 * The regions at a working size [h, w] (new tensors, the caller's): with style masks, each style
 * image where its mask says (within the subject mask if there is one); with a subject mask
 * alone, the blend of the styles there. Null without masks: the blend everywhere.
 */
export function regionsAt(masks: RunMasks, h: number, w: number): StyleRegions | null {
  const { style, subject } = masks;
  if (!style && !subject) return null;
  const within = subject ? maskAt(subject, h, w) : null;
  if (!style) return { masks: [within!], styles: [null] };
  const at = (m: tf.Tensor2D) =>
    tf.tidy(() => (within ? (tf.mul(maskAt(m, h, w), within) as tf.Tensor2D) : maskAt(m, h, w)));
  const regions = { masks: style.map(at), styles: style.map((_, i) => i) };
  within?.dispose();
  return regions;
}

/** A 1-D Gaussian kernel of standard deviation `sigma` px, cut at 3σ, summing to 1. */
function gaussian(sigma: number): tf.Tensor1D {
  const radius = Math.ceil(3 * sigma);
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  return tf.tensor1d(taps.map((t) => t / sum));
}

/** The soft edge's width: a Gaussian of 1/200 of the longest side (2.6 px at 512 px), at least 1 px. */
export const softness = (h: number, w: number): number => Math.max(1, Math.max(h, w) / 200);

/**
 * The subject mask at [h, w], blurred by `softness` so that the composite's edge is soft; the
 * image's border is mirrored, so a mask that is white to the edge stays white there.
 */
export function softMask(mask: tf.Tensor2D, h: number, w: number): tf.Tensor2D {
  return tf.tidy(() => {
    const kernel = gaussian(softness(h, w));
    const r = (kernel.size - 1) / 2;
    const x = tf.mirrorPad(
      tf.reshape(maskAt(mask, h, w), [1, h, w, 1]) as tf.Tensor4D,
      [
        [0, 0],
        [Math.min(r, h - 1), Math.min(r, h - 1)],
        [Math.min(r, w - 1), Math.min(r, w - 1)],
        [0, 0],
      ],
      'symmetric',
    );
    const rows = tf.conv2d(x, tf.reshape(kernel, [kernel.size, 1, 1, 1]) as tf.Tensor4D, 1, 'valid');
    const both = tf.conv2d(rows, tf.reshape(kernel, [1, kernel.size, 1, 1]) as tf.Tensor4D, 1, 'valid');
    // A mask smaller than the kernel's reach comes out smaller than [h, w]: stretched back.
    return tf.clipByValue(maskAt(tf.squeeze(both, [0, 3]) as tf.Tensor2D, h, w), 0, 1);
  });
}

/** soft·result + (1 − soft)·photo, both [h, w, 3]: the stylised subject on the untouched photo. */
export const composite = (result: tf.Tensor3D, photo: tf.Tensor3D, soft: tf.Tensor2D): tf.Tensor3D =>
  tf.tidy(() => {
    const m = tf.expandDims(soft, 2);
    return tf.add(tf.mul(result, m), tf.mul(photo, tf.sub(1, m))) as tf.Tensor3D;
  });
