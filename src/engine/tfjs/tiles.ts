/**
 * The network on tiles with TensorFlow.js (see TileKernel): the weighted Gram sums of pass 1,
 * and the gradient of a tile's share of the objective by automatic differentiation.
 */
import * as tf from '@tensorflow/tfjs';
import type { Objective, TileKernel, TileSums, TileWeights } from '../evaluator.js';
import type { FeatureModel } from './features.js';
import { pick } from './objective.js';
import { vggPreprocess } from './preprocess.js';

/** Σₚ m(p)·Fₚ Fₚᵀ of F [1, h, w, c] with weights m [h, w]: [c, c]. */
function weightedGram(f: tf.Tensor4D, m: tf.Tensor2D): tf.Tensor2D {
  const [, h, w, c] = f.shape;
  const flat = tf.reshape(f, [h * w, c]);
  const weighted = tf.mul(flat, tf.reshape(m, [h * w, 1]));
  return tf.matMul(flat, weighted, true, false);
}

/** Σₚ m(p)·|Fₚ − Pₚ|² of F and P [1, h, w, c] with weights m [h, w]. */
function weightedSquares(f: tf.Tensor4D, p: tf.Tensor4D, m: tf.Tensor2D): tf.Scalar {
  const [, h, w] = f.shape;
  return tf.sum(tf.mul(tf.square(tf.sub(f, p)), tf.reshape(m, [1, h, w, 1])));
}

export class TfjsTileKernel implements TileKernel {
  constructor(
    private readonly model: FeatureModel,
    private readonly objective: Objective,
  ) {}

  private layers(tile: tf.Tensor4D): { style: tf.Tensor4D[]; content: tf.Tensor4D[] } {
    const outputs = this.model.apply(vggPreprocess(tile));
    return {
      style: pick(this.model, outputs, this.objective.styleLayers),
      content: pick(this.model, outputs, this.objective.contentLayers),
    };
  }

  async features(tile: tf.Tensor4D): Promise<tf.Tensor4D[]> {
    return tf.tidy(() => this.layers(tile).content);
  }

  async sums(tile: tf.Tensor4D, weights: TileWeights, targets: readonly tf.Tensor4D[] | null): Promise<TileSums> {
    const [squares, ...grams] = tf.tidy(() => {
      const { style, content } = this.layers(tile);
      const squares = targets
        ? tf.stack(content.map((f, k) => weightedSquares(f, targets[k]!, weights.content[k]!)))
        : tf.zeros([content.length]);
      return [squares, ...style.map((f, l) => weightedGram(f, weights.style[l]!))];
    });
    const content = Array.from(await squares!.data());
    squares!.dispose();
    return { grams: grams as tf.Tensor2D[], content };
  }

  async gradient(
    tile: tf.Tensor4D,
    weights: TileWeights,
    gramGradients: readonly tf.Tensor2D[],
    targets: readonly tf.Tensor4D[],
    contentWeights: readonly number[],
  ): Promise<tf.Tensor4D> {
    const share = (x: tf.Tensor): tf.Scalar => {
      const { style, content } = this.layers(x as tf.Tensor4D);
      const terms = [
        ...style.map((f, l) => tf.sum(tf.mul(gramGradients[l]!, weightedGram(f, weights.style[l]!)))),
        ...content.map((f, k) => tf.mul(weightedSquares(f, targets[k]!, weights.content[k]!), contentWeights[k]!)),
      ];
      return tf.addN(terms) as tf.Scalar;
    };
    return tf.tidy(() => tf.grad(share)(tile) as tf.Tensor4D);
  }

  dispose(): void {}
}
