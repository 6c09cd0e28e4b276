import * as tf from '@tensorflow/tfjs';

/** The four costs of one evaluation: J = α·J_content + β·J_style + var·J_var. */
export interface Costs {
  total: number;
  content: number;
  style: number;
  variation: number;
}

/** What an evaluation of the objective returns: the gradient of J w.r.t. the image, and the costs. */
export interface Evaluation {
  grads: tf.Tensor4D;
  costs: Costs;
}

export interface ProgressEvent {
  /** 0 is the cost of the initial image, before any update. */
  iteration: number;
  iterations: number;
  costs: Costs;
  bestCost: number;
  elapsedMs: number;
}

/**
 * Adam (Kingma & Ba) on the image, as tf.keras' optimizer computes it (epsilon 1e-7), followed by
 * clipping to [0, 1] as the seed does after every update. Written out instead of tf.train.adam so
 * that its moments are plain tensors we own (no variables to leak, state that can be saved).
 */
export class Adam {
  private m: tf.Tensor4D | null = null;
  private v: tf.Tensor4D | null = null;
  private t = 0;

  constructor(
    readonly lr = 0.01,
    readonly beta1 = 0.9,
    readonly beta2 = 0.99,
    readonly epsilon = 1e-7,
  ) {}

  /** Returns the updated, clipped image; the caller owns it and still owns `image` and `grads`. */
  step(image: tf.Tensor4D, grads: tf.Tensor4D): tf.Tensor4D {
    this.t += 1;
    const { lr, beta1, beta2, epsilon, t } = this;
    const [m, v, next] = tf.tidy(() => {
      const m = this.m ? tf.add(tf.mul(this.m, beta1), tf.mul(grads, 1 - beta1)) : tf.mul(grads, 1 - beta1);
      const v = this.v ? tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(grads), 1 - beta2)) : tf.mul(tf.square(grads), 1 - beta2);
      const lrT = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      const update = tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), epsilon));
      return [m, v, tf.clipByValue(tf.sub(image, update), 0, 1)] as tf.Tensor4D[];
    });
    this.dispose();
    this.m = m!;
    this.v = v!;
    return next!;
  }

  dispose(): void {
    this.m?.dispose();
    this.v?.dispose();
    this.m = this.v = null;
  }
}

/** The cost stopped being a finite number; the best image before that is attached. */
export class NonFiniteCostError extends Error {
  override name = 'NonFiniteCostError';
  constructor(
    message: string,
    readonly bestImage: tf.Tensor4D | null,
    readonly bestCost: number,
  ) {
    super(message);
  }
}

export interface OptimizeOptions {
  initial: tf.Tensor4D;
  iterations: number;
  evaluate: (image: tf.Tensor4D) => Evaluation;
  optimizer: Adam;
  onProgress?: (event: ProgressEvent) => void;
  /** Checked between iterations: a true answer ends the run early (Ctrl-C) with the best image so far. */
  shouldStop?: () => boolean;
}

export interface OptimizeResult {
  bestImage: tf.Tensor4D;
  bestCost: number;
  /** Evaluations done: iterations + 1 for a full run. */
  evaluations: number;
  stopped: boolean;
}

/**
 * The seed's loop: evaluate iterations + 1 times (iteration 0 is the initial image), keep the image
 * with the lowest total cost, update after every evaluation but the last. A non-finite cost stops
 * the run: everything after it would be garbage, and the best finite image is kept.
 */
export async function optimize(opts: OptimizeOptions): Promise<OptimizeResult> {
  const { iterations, evaluate, optimizer, onProgress, shouldStop } = opts;
  const start = Date.now();
  let image = opts.initial.clone();
  let best: tf.Tensor4D | null = null;
  let bestCost = Infinity;
  let evaluations = 0;
  let stopped = false;
  try {
    for (let i = 0; i <= iterations; i++) {
      const { grads, costs } = evaluate(image);
      evaluations++;
      try {
        if (!Number.isFinite(costs.total)) {
          throw new NonFiniteCostError(`cost became ${costs.total} at iteration ${i}`, best, bestCost);
        }
        if (costs.total < bestCost) {
          bestCost = costs.total;
          best?.dispose();
          best = image.clone();
        }
        onProgress?.({ iteration: i, iterations, costs, bestCost, elapsedMs: Date.now() - start });
        if (i === iterations) break;
        if (shouldStop?.()) {
          stopped = true;
          break;
        }
        const next = optimizer.step(image, grads);
        image.dispose();
        image = next;
      } finally {
        grads.dispose();
      }
      // Let signal handlers and the progress bar run between iterations.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } catch (error) {
    if (!(error instanceof NonFiniteCostError)) best?.dispose();
    throw error;
  } finally {
    image.dispose();
    optimizer.dispose();
  }
  return { bestImage: best!, bestCost, evaluations, stopped };
}
