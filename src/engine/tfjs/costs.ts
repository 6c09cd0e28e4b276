import * as tf from '@tensorflow/tfjs';

/**
 * The cost functions of Gatys et al., as test/nst.test.ts pins them. They do no argument checking:
 * the NST class checks its inputs and then calls these.
 */

/**
 * Fᵀ F / n for F [n, c], with its gradient dF = F (dG + dGᵀ) / n written out. Both use only
 * untransposed matrix products: on the wasm backend a product with a transpose flag takes a slow
 * path (about 20× slower at these shapes), so the transposes are explicit.
 */
const normalisedGram = tf.customGrad((flat, save) => {
  const f = flat as tf.Tensor2D;
  (save as tf.GradSaveFunc)([f]);
  // tidy: the transposes and products in between are freed at once, not at the end of the pass.
  return {
    value: tf.tidy(() => tf.div(tf.matMul(tf.transpose(f), f), f.shape[0])),
    gradFunc: (dy, [saved]) =>
      tf.tidy(() =>
        tf.div(tf.matMul(saved as tf.Tensor2D, tf.add(dy, tf.transpose(dy)) as tf.Tensor2D), saved!.shape[0]!),
      ),
  };
}) as (flat: tf.Tensor2D) => tf.Tensor2D;

/** Gram matrix of a feature map F [1, h, w, c]: Fᵀ F / (h·w), shape [1, c, c]. */
export function gramMatrix(features: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const [, h, w, c] = features.shape;
    return tf.reshape(normalisedGram(tf.reshape(features, [h * w, c])), [1, c, c]) as tf.Tensor3D;
  });
}

/** Style cost of one layer: mean over the c×c entries of (G − A)², G the output's Gram matrix. */
export function layerStyleCost(styleOutput: tf.Tensor4D, gramTarget: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(gramMatrix(styleOutput), gramTarget)) as tf.Scalar);
}

/** Weighted sum of the layer style costs; the weights are expected to sum to 1. */
export function styleCost(
  styleOutputs: readonly tf.Tensor4D[],
  gramTargets: readonly tf.Tensor3D[],
  weights: readonly number[],
): tf.Scalar {
  return tf.tidy(() => {
    const layerCosts = styleOutputs.map((output, i) => tf.mul(layerStyleCost(output, gramTargets[i]!), weights[i]!));
    return tf.addN(layerCosts) as tf.Scalar;
  });
}

/** Content cost: mean over h·w·c of (F − P)². */
export function contentCost(contentOutput: tf.Tensor4D, contentTarget: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(contentOutput, contentTarget)) as tf.Scalar);
}

/**
 * Total variation as tf.image.total_variation: the sum of absolute differences between vertically
 * and horizontally neighbouring pixels, over all channels (and images of the batch).
 */
export function variationalCost(image: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const vertical = tf.sub(
      tf.slice(image, [0, 1, 0, 0], [-1, h - 1, -1, -1]),
      tf.slice(image, [0, 0, 0, 0], [-1, h - 1, -1, -1]),
    );
    const horizontal = tf.sub(
      tf.slice(image, [0, 0, 1, 0], [-1, -1, w - 1, -1]),
      tf.slice(image, [0, 0, 0, 0], [-1, -1, w - 1, -1]),
    );
    return tf.add(tf.sum(tf.abs(vertical)), tf.sum(tf.abs(horizontal))) as tf.Scalar;
  });
}
