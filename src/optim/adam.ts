import * as tf from '@tensorflow/tfjs';
import type { Evaluation, Optimizer, OptimizerState, StepResult } from './types.js';

/**
 * Adam (Kingma & Ba) on the image, as tf.keras' optimizer computes it (epsilon 1e-7), followed by
 * clipping to [0, 1] after every update (as test/nst.test.ts expects of generateImage). Written out instead of tf.train.adam so
 * that its moments are plain tensors we own (no variables to leak, state that can be saved).
 * One evaluation per iteration.
 */
export class Adam implements Optimizer {
  private m: tf.Tensor4D | null = null;
  private v: tf.Tensor4D | null = null;
  private t = 0;

  constructor(
    readonly lr = 0.01,
    readonly beta1 = 0.9,
    readonly beta2 = 0.99,
    readonly epsilon = 1e-7,
  ) {}

  /** Returns the updated, clipped image; the caller owns it and still owns `image` and `current`. */
  async step(image: tf.Tensor4D, current: Evaluation): Promise<StepResult> {
    const grads = current.gradient;
    this.t += 1;
    const { lr, beta1, beta2, epsilon, t } = this;
    const [m, v, next] = tf.tidy(() => {
      const m = this.m ? tf.add(tf.mul(this.m, beta1), tf.mul(grads, 1 - beta1)) : tf.mul(grads, 1 - beta1);
      const v = this.v
        ? tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(grads), 1 - beta2))
        : tf.mul(tf.square(grads), 1 - beta2);
      const lrT = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      const update = tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), epsilon));
      return [m, v, tf.clipByValue(tf.sub(image, update), 0, 1)] as tf.Tensor4D[];
    });
    this.dispose();
    this.m = m!;
    this.v = v!;
    return { image: next! };
  }

  getState(): OptimizerState {
    return { tensors: this.m && this.v ? { m: this.m, v: this.v } : {}, values: { t: this.t } };
  }

  setState(state: OptimizerState): void {
    this.dispose();
    const { m, v } = state.tensors;
    this.m = m ? (m.clone() as tf.Tensor4D) : null;
    this.v = v ? (v.clone() as tf.Tensor4D) : null;
    this.t = state.values['t'] ?? 0;
  }

  dispose(): void {
    this.m?.dispose();
    this.v?.dispose();
    this.m = this.v = null;
  }
}
