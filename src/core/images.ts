/**
 * Images as the library takes them, and the run's starting image. A "raw" image is float32
 * [h, w, 3] with values 0..255; a "scaled" image is the working image, [1, h, w, 3] in [0, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { resizeBicubic } from './resize.js';

/**
 * An image as the library takes it: a tf.Tensor3D or a plain `{ data, shape }` object, shape
 * [h, w, 3], RGB values 0..255 (what readImage returns, or an array from any decoder).
 */
export type ImageInput = tf.Tensor3D | { data: ArrayLike<number>; shape: readonly number[] };

/**
 * The initial image: the content image (Gatys et al.'s choice), uniform noise, the style image
 * stretched to the working size, or any image (values 0..255, any size, stretched bicubically to
 * the working size).
 */
export type InitImage = 'content' | 'noise' | 'style' | ImageInput;

/** What every message about a bad image says it must be. */
export const IMAGE_RULE = 'must be an array or tensor with shape (h, w, 3)';

/** An ImageInput as a new float32 tensor [h, w, 3]; null if it is not one. */
export function toRawImage(image: unknown): tf.Tensor3D | null {
  if (image instanceof tf.Tensor) {
    if (image.rank !== 3 || image.shape[2] !== 3 || image.size === 0) return null;
    return tf.cast(image as tf.Tensor3D, 'float32');
  }
  const candidate = image as { data?: ArrayLike<number>; shape?: readonly number[] } | null;
  const shape = candidate?.shape;
  const data = candidate?.data;
  const goodShape =
    Array.isArray(shape) && shape.length === 3 && shape[2] === 3 && shape.every((d) => Number.isInteger(d) && d > 0);
  if (!goodShape || data == null || typeof data.length !== 'number' || data.length !== shape[0] * shape[1] * 3) {
    return null;
  }
  return tf.tensor3d(Array.from(data), shape as [number, number, number], 'float32');
}

/**
 * The starting image at the content's working size, [1, h, w, 3] in [0, 1]: the content itself,
 * seeded uniform noise, the style image or a raw image stretched to that size.
 */
export function initialImage(
  init: 'content' | 'noise' | 'style' | tf.Tensor3D,
  content: tf.Tensor4D,
  style: tf.Tensor4D,
  seed?: number,
): tf.Tensor4D {
  const shape = content.shape;
  if (init === 'content') return content.clone();
  if (init === 'noise') return tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
  if (init === 'style') return tf.tidy(() => tf.clipByValue(resizeBicubic(style, shape[1], shape[2]), 0, 1));
  return tf.tidy(() => {
    const resized = resizeBicubic(tf.expandDims(init, 0) as tf.Tensor4D, shape[1], shape[2]);
    return tf.clipByValue(tf.div<tf.Tensor4D>(resized, 255), 0, 1);
  });
}

/**
 * The start of a scale from the previous scale's result (both [h, w, 3] in [0, 1]; the result is
 * raw, 0..255, at `base`'s size). Upsampling alone blurs: the fine texture that the deeper style
 * layers respond to is gone, and the next scale spends its first iterations rebuilding it. So the
 * result's change to the initial image is upsampled and added to the initial image at the new
 * scale, which keeps that image's own fine detail (the photo's, for the default content init):
 * ≈ 7% fewer iterations at the last scale in bench/README.md's time-to-quality run. Noise has no
 * detail worth keeping (null base): the result is upsampled alone.
 */
export function nextScaleStart(
  previous: tf.Tensor3D,
  previousBase: tf.Tensor4D | null,
  base: tf.Tensor4D | null,
): tf.Tensor3D {
  return tf.tidy(() => {
    if (!previousBase || !base) return tf.mul(previous, 255) as tf.Tensor3D;
    const [, h, w] = base.shape;
    const change = resizeBicubic(tf.sub(previous, tf.squeeze(previousBase, [0])) as tf.Tensor3D, h, w);
    return tf.mul(tf.clipByValue(tf.add(tf.squeeze(base, [0]), change), 0, 1), 255) as tf.Tensor3D;
  });
}
