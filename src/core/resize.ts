/**
 * Resizing the images the library works on: TensorFlow's bicubic resize in plain JavaScript and
 * the reference's `scale_image`. A "raw" image is float32 [h, w, 3] with values 0..255; a "scaled"
 * image is the working image, [1, h, w, 3] with values in [0, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { resizeRows, scaledSize } from '../io/resample.js';

export { scaledSize };

/**
 * Bicubic resize exactly as TensorFlow 2's tf.image.resize(method='bicubic', antialias=False),
 * with TF's weights (see axisTaps). Separable: rows first, then columns (TF's order), summed in
 * float64 on the pixel data, so the result is TF's to float32 rounding. Plain JS on the data is
 * much faster than gathers on the wasm/cpu backends (a 4000 px image takes well under a second),
 * but it is not differentiable: use it on images, not inside tf.grad. Works for any channel
 * count; takes [1, h, w, c] or [h, w, c] and returns the same rank, float32.
 */
export function resizeBicubic<T extends tf.Tensor3D | tf.Tensor4D>(image: T, height: number, width: number): T {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`resizeBicubic: size must be positive integers, got ${height}x${width}`);
  }
  if (image.rank === 4 && image.shape[0] !== 1) {
    throw new Error(`resizeBicubic: expected a batch of 1, got [${image.shape.join(', ')}]`);
  }
  const [inHeight, inWidth, channels] = image.rank === 4 ? image.shape.slice(1) : image.shape;
  const src = image.dataSync();
  const rowLength = inWidth * channels;
  const row = (y: number) => src.subarray(y * rowLength, (y + 1) * rowLength);
  const out = resizeRows(row, [inHeight!, inWidth!, channels!], height, width);
  return (
    image.rank === 4 ? tf.tensor4d(out, [1, height, width, channels]) : tf.tensor3d(out, [height, width, channels])
  ) as T;
}

/**
 * The reference's scale_image: bicubic resize of a raw [h, w, 3] image so its larger side is
 * `maxSide`, then / 255 and clipped to [0, 1] (bicubic overshoots). Returns [1, h', w', 3].
 */
export function scaleImage(image: tf.Tensor3D, maxSide = 512): tf.Tensor4D {
  if (!Number.isInteger(maxSide) || maxSide < 1) {
    throw new Error(`scaleImage: maxSide must be a positive integer, got ${maxSide}`);
  }
  const [height, width] = scaledSize(image.shape[0], image.shape[1], maxSide);
  return tf.tidy(() => {
    const resized = resizeBicubic(tf.expandDims(image, 0) as tf.Tensor4D, height, width);
    return tf.clipByValue(tf.div<tf.Tensor4D>(resized, 255), 0, 1);
  });
}

/** The longest side of the style images at a scale of `size` px: `--style-scale` × the size, at least 1 px. */
export const styleSide = (size: number, styleScale: number): number => Math.max(1, Math.round(styleScale * size));
