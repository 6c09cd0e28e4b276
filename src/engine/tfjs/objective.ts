/**
 * The objective of Gatys et al. on TensorFlow.js, for the seed-compatible NST class (nst.ts) only:
 * the command and stylize run the ONNX graphs of engine/objective/. The targets of one working
 * size, the costs J = α·J_content + β·J_style + var·J_var at an image, and their gradient by
 * automatic differentiation (through the hand-written layer gradients of features.ts and costs.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Evaluation } from '../../optim/types.js';
import type { Evaluator, Objective, TargetImages } from '../evaluator.js';
import { addWeightedGrams } from '../targets.js';
import * as costs from './costs.js';
import type { FeatureModel } from './features.js';
import { vggPreprocess } from './preprocess.js';

/** Per style layer the blended Gram matrix Σ wᵢ·Gᵢ ([1, c, c]); per content layer the content's features. */
export interface Targets {
  style: tf.Tensor3D[];
  content: tf.Tensor4D[];
}

/** The outputs of `model.apply` picked by layer name. */
export function pick(model: FeatureModel, outputs: tf.Tensor4D[], layers: readonly string[]): tf.Tensor4D[] {
  return layers.map((name) => outputs[model.outputNames.indexOf(name)]!);
}

/** The Gram matrices of one style image at the style layers. */
function styleGrams(model: FeatureModel, objective: Objective, image: tf.Tensor4D): tf.Tensor3D[] {
  return tf.tidy(() =>
    pick(model, model.apply(vggPreprocess(image)), objective.styleLayers).map((f) => costs.gramMatrix(f)),
  );
}

/** The targets of the images' working size (new tensors, the caller's). */
export function computeTargets(model: FeatureModel, objective: Objective, images: TargetImages): Targets {
  let style: tf.Tensor3D[] = [];
  try {
    images.styles.forEach((image, i) => {
      const own = styleGrams(model, objective, image);
      style = addWeightedGrams(style, own, images.styleWeights[i]!);
      tf.dispose(own);
    });
  } catch (error) {
    tf.dispose(style);
    throw error;
  }
  const content = tf.tidy(() => pick(model, model.apply(vggPreprocess(images.content)), objective.contentLayers));
  return { style, content };
}

/** [J, J_content, J_style, J_var] at `image` ([1, h, w, 3] in [0, 1]). */
export function totalCost(
  model: FeatureModel,
  objective: Objective,
  targets: Targets,
  image: tf.Tensor4D,
): [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar] {
  return tf.tidy(() => {
    const outputs = model.apply(vggPreprocess(image));
    const jStyle = costs.styleCost(
      pick(model, outputs, objective.styleLayers),
      targets.style,
      objective.styleLayerWeights,
    );
    const contentOutputs = pick(model, outputs, objective.contentLayers);
    const contentCosts = contentOutputs.map((o, i) => costs.contentCost(o, targets.content[i]!));
    // One content layer: its cost as it is (no division), so a single layer gives exactly its own cost.
    const jContent =
      contentCosts.length === 1 ? contentCosts[0]! : (tf.div(tf.addN(contentCosts), contentCosts.length) as tf.Scalar);
    const jVar = costs.variationalCost(image);
    const j = tf.addN([
      tf.mul(jContent, objective.alpha),
      tf.mul(jStyle, objective.beta),
      tf.mul(jVar, objective.variation),
    ]) as tf.Scalar;
    return [j, jContent, jStyle, jVar];
  });
}

/** [gradient of J w.r.t. the image, J, J_content, J_style, J_var]. */
export function computeGrads(
  model: FeatureModel,
  objective: Objective,
  targets: Targets,
  image: tf.Tensor4D,
): [tf.Tensor4D, tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar] {
  let parts: tf.Scalar[] = [];
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor4D) => {
    const [j, ...rest] = totalCost(model, objective, targets, x);
    parts = rest.map((t) => tf.keep(t));
    return j;
  })(image);
  return [grad as tf.Tensor4D, value, parts[0]!, parts[1]!, parts[2]!];
}

/** The objective at one working size on TensorFlow.js. */
export class TfjsEvaluator implements Evaluator {
  private disposed = false;

  /** `owned`: whether `dispose` releases the targets (the NST facade keeps its own). */
  constructor(
    readonly model: FeatureModel,
    readonly objective: Objective,
    readonly targets: Targets,
    private readonly owned = true,
  ) {}

  async evaluate(image: tf.Tensor4D): Promise<Evaluation> {
    if (this.disposed) throw new Error('the evaluator was disposed');
    const [gradient, ...parts] = computeGrads(this.model, this.objective, this.targets, image);
    const stacked = tf.stack(parts);
    tf.dispose(parts);
    try {
      // One read for the four numbers.
      const [total, content, style, variation] = await stacked.data();
      return { gradient, costs: { total: total!, content: content!, style: style!, variation: variation! } };
    } catch (error) {
      gradient.dispose();
      throw error;
    } finally {
      stacked.dispose();
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.owned) tf.dispose([...this.targets.style, ...this.targets.content]);
  }
}
