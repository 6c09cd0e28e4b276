/**
 * The ONNX Runtime evaluator: one session runs the evaluation graph (costs and gradient); the
 * targets and the cost weights are fed to it as inputs, so one session serves any targets and is
 * shared, through the engine's cache, by every evaluator of the same size and layers.
 */
import * as tf from '@tensorflow/tfjs';
import { ort, type Ort } from './runtime.js';
import { floats, fromHost, hostData } from './host.js';
import type { Costs, Evaluation } from '../../optim/types.js';
import type { Evaluator, Objective } from '../evaluator.js';
import type { OnnxTuning } from './tuning.js';
import { layersUpTo, modelOutputs } from '../vgg19.js';
import { buildEvaluationModel, EVALUATION_IO, type EvaluationSpec } from '../objective/evaluation.js';
import { readOnnxConvs, type OnnxConv } from './layout.js';
import type { WeightMap } from '../regions.js';
import { createSession, type Lease, type SessionCache, type SessionSettings } from './session.js';

/** How the graph is written and run (see OnnxTuning), with the threads. */
export type GraphSettings = OnnxTuning & SessionSettings;

/** The targets of one working size, as the graph takes them (content targets NCHW). */
export interface OnnxTargets {
  style: tf.Tensor3D[];
  content: tf.Tensor4D[];
  /** Per style layer entry its weight map, for an objective with styleMaps (regions.ts). */
  styleMaps?: readonly WeightMap[];
  /** With Objective.temporal (TargetImages.temporal). */
  temporal?: { target: tf.Tensor4D; weights: tf.Tensor2D };
}

/** A tf tensor's values as a float32 ONNX Runtime tensor of `dims`. */
function ortTensor(tensor: tf.Tensor, dims: readonly number[]): Ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(tensor.dataSync()), dims);
}

/** The fixed inputs of the graph: cost weights and targets (content targets moved to NCHW). */
function targetFeeds(objective: Objective, targets: OnnxTargets): Record<string, Ort.Tensor> {
  const io = EVALUATION_IO;
  const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);
  const layerWeights = Float32Array.from(objective.styleLayerWeights);
  const feeds: Record<string, Ort.Tensor> = {
    [io.alpha]: scalar(objective.alpha),
    [io.beta]: scalar(objective.beta),
    [io.variation]: scalar(objective.variation),
    [io.styleLayerWeights]: new ort.Tensor('float32', layerWeights, [layerWeights.length]),
  };
  targets.style.forEach((t, i) => (feeds[io.styleTarget(i)] = ortTensor(t, t.shape)));
  targets.styleMaps?.forEach(
    ({ data, height, width }, i) => (feeds[io.styleMap(i)] = new ort.Tensor('float32', data, [height, width])),
  );
  if (targets.temporal && objective.temporal !== undefined) {
    const { target, weights } = targets.temporal;
    const [, h, w] = target.shape;
    feeds[io.temporalWeight] = scalar(objective.temporal);
    feeds[io.temporalTarget] = ortTensor(target, [1, h, w, 3]);
    feeds[io.temporalWeights] = ortTensor(weights, [1, h, w, 1]);
  }
  targets.content.forEach((t, i) => {
    const [, h, w, c] = t.shape;
    const nchw = tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]));
    feeds[io.contentTarget(i)] = ortTensor(nchw, [1, c, h, w]);
    nchw.dispose();
  });
  return feeds;
}

/** What a graph is written from, beside the size: the layers, the pooling and the style loss. */
export function graphObjective({
  styleLayers,
  contentLayers,
  pooling,
  styleLoss = 'gram',
  styleMaps = false,
  temporal,
}: Objective) {
  return { styleLayers, contentLayers, pooling, styleLoss, styleMaps, temporal: temporal !== undefined };
}

/** What identifies a session: the graph's size and layers, the weights, and the session settings. */
export function evaluationKey(weights: string, objective: Objective, h: number, w: number, s: GraphSettings): string {
  const size = s.dims === 'fixed' ? [h, w] : 'any';
  return JSON.stringify(['evaluation', weights, size, graphObjective(objective), s]);
}

/** What a graph with a backward pass is written from: the objective's layers, the size (or names for it), the settings. */
export function graphSpec(
  objective: Objective,
  convs: readonly OnnxConv[],
  [h, w]: readonly [number, number],
  s: GraphSettings,
): EvaluationSpec {
  const symbolic = s.dims === 'symbolic';
  const { backwardConv, reluMask, maxPoolGradient, convolution } = s;
  const [height, width] = symbolic ? ['height', 'width'] : [h, w];
  const tuning = { backwardConv, reluMask, maxPoolGradient, convolution };
  return { height, width, ...graphObjective(objective), convs, ...tuning };
}

/** Reads the weights, writes the evaluation graph and creates its session. */
export async function evaluationSession(weights: string, objective: Objective, h: number, w: number, s: GraphSettings) {
  const layers = layersUpTo(modelOutputs(objective.styleLayers, objective.contentLayers).at(-1)!);
  const convs = await readOnnxConvs(weights, layers);
  return createSession(buildEvaluationModel(graphSpec(objective, convs, [h, w], s)), s);
}

/** Evaluates J and dJ/dimage with ONNX Runtime at one working size. */
export class OnnxEvaluator implements Evaluator {
  /** The execution provider its session runs on. */
  readonly provider: string;
  private readonly feeds: Record<string, Ort.Tensor>;
  private disposed = false;
  private running = 0;

  constructor(
    private readonly lease: Lease,
    objective: Objective,
    targets: OnnxTargets,
    readonly height: number,
    readonly width: number,
  ) {
    this.provider = lease.info.provider;
    this.feeds = targetFeeds(objective, targets);
  }

  async evaluate(image: tf.Tensor4D): Promise<Evaluation> {
    if (this.disposed) throw new Error('the evaluator was disposed');
    const shape: [number, number, number, number] = [1, this.height, this.width, 3];
    if (image.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`the image is [${image.shape.join(', ')}], the evaluator's size [${shape.join(', ')}]`);
    }
    this.running++;
    try {
      const data = hostData(image);
      const io = EVALUATION_IO;
      const out = await this.lease.session.run({ ...this.feeds, [io.image]: floats(data, shape) });
      const value = (name: string) => (out[name]!.data as Float32Array)[0]!;
      const costs: Costs = {
        total: value(io.total),
        content: value(io.content),
        style: value(io.style),
        variation: value(io.variationCost),
      };
      if (out[io.temporalCost]) costs.temporal = value(io.temporalCost);
      return { gradient: fromHost(out[io.gradient]!.data as Float32Array, shape), costs };
    } finally {
      // A dispose during the run gives the session back once the run is over.
      if (--this.running === 0 && this.disposed) this.lease.release();
    }
  }

  /** Gives the session back to the engine's cache. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.running === 0) this.lease.release();
  }
}

/** An evaluator on a session of `cache` (built on first use): the engine's way, and the tests'. */
export async function createOnnxEvaluator(
  cache: SessionCache,
  weights: string,
  objective: Objective,
  targets: OnnxTargets,
  [height, width]: readonly [number, number],
  graph: GraphSettings,
): Promise<OnnxEvaluator> {
  const key = evaluationKey(weights, objective, height, width, graph);
  const lease = await cache.acquire(key, () => evaluationSession(weights, objective, height, width, graph));
  return new OnnxEvaluator(lease, objective, targets, height, width);
}
