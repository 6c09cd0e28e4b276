import * as tf from '@tensorflow/tfjs';

/** ImageNet channel means of Keras' VGG preprocessing, in B, G, R order. */
const VGG_MEANS_BGR = [103.939, 116.779, 123.68];

/**
 * Keras' vgg19.preprocess_input ("caffe" mode) on a scaled image: x * 255, RGB -> BGR, minus the
 * ImageNet means. Built from differentiable ops since it runs inside the gradient computation.
 */
export function vggPreprocess(scaled: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub<tf.Tensor4D>(tf.reverse(tf.mul(scaled, 255), 3), tf.tensor1d(VGG_MEANS_BGR)));
}
