import * as tf from '@tensorflow/tfjs';
import type { AdamKernels, Evaluation, Optimizer, OptimizerState, StepResult } from './types.js';

/**
 * Adam's update on TensorFlow.js: the same operations as one tf.tidy would do, each intermediate
 * released as soon as the next is made: a tidy holds them all to its end, a dozen image-sized
 * tensors at the peak, which at print sizes is most of a run's memory beside the network
 * (bench/README.md "Tiles").
 */
export const tensorAdam: AdamKernels = {
  async step(image, g, moments, { beta1, beta2, rate, epsilon }) {
    const m = movingAverage(moments?.m ?? null, beta1, tf.mul(g, 1 - beta1));
    moments?.m.dispose();
    const v = movingAverage(
      moments?.v ?? null,
      beta2,
      consume(tf.square(g), (g2) => tf.mul(g2, 1 - beta2)),
    );
    moments?.v.dispose();
    const denominator = consume(tf.sqrt(v), (root) => tf.add(root, epsilon));
    const update = consume(tf.mul(m, rate), (scaled) => tf.div(scaled, denominator));
    denominator.dispose();
    const next = consume(tf.sub(image, update), (moved) => tf.clipByValue(moved, 0, 1));
    update.dispose();
    return { image: next as tf.Tensor4D, m, v };
  },
};

/**
 * Adam (Kingma & Ba) on the image, as tf.keras' optimizer computes it (epsilon 1e-7), followed by
 * clipping to [0, 1] after every update (as test/nst.test.ts expects of generateImage). Written out instead of tf.train.adam so
 * that its moments are plain tensors we own (no variables to leak, state that can be saved);
 * the arithmetic is the runtime's (`AdamKernels`: an engine's, or TensorFlow.js').
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
    private readonly kernels: AdamKernels = tensorAdam,
  ) {}

  /** Returns the updated, clipped image; the caller owns it and still owns `image` and `current`. */
  async step(image: tf.Tensor4D, current: Evaluation): Promise<StepResult> {
    this.t += 1;
    const { lr, beta1, beta2, epsilon, t } = this;
    const rate = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    const moments = this.m && this.v ? { m: this.m, v: this.v } : null;
    this.m = this.v = null; // the kernels consume them
    const next = await this.kernels.step(image, current.gradient, moments, { beta1, beta2, rate, epsilon });
    [this.m, this.v] = [next.m, next.v];
    return { image: next.image };
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

/** f(x), x released: one step of a chain that keeps no intermediate. */
function consume(x: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
  const y = f(x);
  x.dispose();
  return y;
}

/** β·previous + update (the update already scaled by 1 − β), or the update alone at the first step; `update` is consumed. */
function movingAverage(previous: tf.Tensor4D | null, beta: number, update: tf.Tensor): tf.Tensor4D {
  if (!previous) return update as tf.Tensor4D;
  const decayed = tf.mul(previous, beta);
  const sum = tf.add(decayed, update) as tf.Tensor4D;
  tf.dispose([decayed, update]);
  return sum;
}
