/**
 * The network on tiles with ONNX Runtime (see TileKernel): two sessions for tiles of one size,
 * the tile sums graph (pass 1, and the content layers' activations) and the tile gradient graph
 * (pass 2) of objective/tile-graphs.ts. The weight maps, targets and Gram gradients are inputs, so one pair
 * of sessions serves every tile, and through the engine's cache every kernel of the same size.
 */
import * as tf from '@tensorflow/tfjs';
import { ort, type Ort } from './runtime.js';
import type { Objective, TileKernel, TileSeeds, TileSums, TileWeights } from '../evaluator.js';
import { channelsOf, layerGrid, layersUpTo, minSide, modelOutputs } from '../vgg19.js';
import { graphObjective, graphSpec, type GraphSettings } from './evaluator.js';
import { styleLossOf } from '../objective/style.js';
import { readOnnxConvs, type OnnxConv } from './layout.js';
import { createSession, type Lease, type SessionCache } from './session.js';
import { buildTileGradientModel, buildTileSumsModel, TILE_IO } from '../objective/tile-graphs.js';

export type TileGraph = 'tile-sums' | 'tile-gradient';

type Shape = readonly number[];

/**
 * Pass 1 runs on every tile before pass 2 runs on any: without its own memory arena the sums
 * graph's activations go back after each run instead of staying beside the gradient graph's.
 */
const sumsSettings = (s: GraphSettings): GraphSettings => ({ ...s, memoryArena: false });

/** What identifies a tile session: which graph, its size and layers, the weights and the session settings. */
export function tileKey(
  graph: TileGraph,
  weights: string,
  objective: Objective,
  [h, w]: readonly [number, number],
  s: GraphSettings,
): string {
  const size = s.dims === 'fixed' ? [h, w] : 'any';
  return JSON.stringify([graph, weights, size, graphObjective(objective), s]);
}

/** Writes one tile graph from the convolutions and creates its session. */
async function tileSession(
  graph: TileGraph,
  convs: readonly OnnxConv[],
  objective: Objective,
  [h, w]: readonly [number, number],
  s: GraphSettings,
) {
  const spec = graphSpec(objective, convs, [h, w], s);
  return createSession(graph === 'tile-sums' ? buildTileSumsModel(spec) : buildTileGradientModel(spec), s);
}

/** A conv layer's grid [h_l, w_l] on a tile of [h, w] and its channels. */
const layerShape = (layer: string, h: number, w: number) => ({
  grid: layerGrid(layer, h, w),
  channels: channelsOf(layer),
});

function checkShape(what: string, got: Shape, want: Shape): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i]))
    throw new RangeError(`${what} is [${got.join(', ')}], the tile kernel expects [${want.join(', ')}]`);
}

function checkCount(what: string, got: number, want: number): void {
  if (got !== want) throw new RangeError(`${got} ${what} given for ${want} layers`);
}

/** A tf tensor's values as a float32 ONNX Runtime tensor of `dims` (the backend's copy, only read). */
async function ortTensor(t: tf.Tensor, dims: Shape = t.shape): Promise<Ort.Tensor> {
  const data = await t.data();
  return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
}

/** A content target NHWC [1, h, w, c] as the graphs take it, NCHW. */
async function nchwTensor(t: tf.Tensor4D): Promise<Ort.Tensor> {
  const [, h, w, c] = t.shape;
  const nchw = tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]));
  try {
    return await ortTensor(nchw, [1, c, h, w]);
  } finally {
    nchw.dispose();
  }
}

const toTf = (t: Ort.Tensor) => tf.tensor(t.data as Float32Array, t.dims as number[]);

/** The TileKernel of the ONNX engine, on leased sessions of one tile size. */
export class OnnxTileKernel implements TileKernel {
  /** The execution provider its sessions run on. */
  readonly provider: string;
  private readonly style: { grid: [number, number]; channels: number }[];
  /** Rows of a style layer's statistics for c channels (the style loss's). */
  private readonly rows: (c: number) => number;
  private readonly content: { grid: [number, number]; channels: number }[];
  /** Zero weight maps (and content targets), for runs that do not read those sums. */
  private zeros: { weights: Record<string, Ort.Tensor>; content: Record<string, Ort.Tensor> } | null = null;
  private disposed = false;
  private running = 0;

  constructor(
    private readonly sumsLease: Lease,
    private readonly gradientLease: Lease,
    objective: Objective,
    readonly height: number,
    readonly width: number,
  ) {
    this.provider = sumsLease.info.provider;
    this.style = objective.styleLayers.map((layer) => layerShape(layer, height, width));
    this.content = objective.contentLayers.map((layer) => layerShape(layer, height, width));
    this.rows = styleLossOf(objective).rows;
  }

  async features(tile: tf.Tensor4D): Promise<tf.Tensor4D[]> {
    return this.guarded(async () => {
      const zeros = this.zeroFeeds();
      const feeds = { ...(await this.imageFeeds(tile)), ...zeros.weights, ...zeros.content };
      const names = this.content.map((_, k) => TILE_IO.features(k));
      const out = await this.sumsLease.session.run(feeds, names);
      return names.map((name) => toTf(out[name]!) as tf.Tensor4D);
    });
  }

  async sums(tile: tf.Tensor4D, weights: TileWeights, targets: readonly tf.Tensor4D[] | null): Promise<TileSums> {
    return this.guarded(async () => {
      const feeds = { ...(await this.imageFeeds(tile)), ...(await this.weightFeeds(weights)) };
      Object.assign(feeds, targets ? await this.contentFeeds(weights, targets) : this.zeroFeeds().content);
      const grams = this.style.map((_, i) => TILE_IO.gramSum(i));
      const content = targets ? this.content.map((_, k) => TILE_IO.contentSum(k)) : [];
      const out = await this.sumsLease.session.run(feeds, [...grams, ...content, TILE_IO.variationSum]);
      const scalar = (name: string) => (out[name]!.data as Float32Array)[0]!;
      return {
        grams: grams.map((name) => toTf(out[name]!) as tf.Tensor2D),
        content: targets ? content.map(scalar) : this.content.map(() => 0),
        variation: scalar(TILE_IO.variationSum),
      };
    });
  }

  async gradient(
    tile: tf.Tensor4D,
    weights: TileWeights,
    targets: readonly tf.Tensor4D[],
    { gramGradients, contentWeights, variationWeight }: TileSeeds,
  ): Promise<tf.Tensor4D> {
    return this.guarded(async () => {
      const io = TILE_IO;
      checkCount('Gram gradients', gramGradients.length, this.style.length);
      checkCount('content weights', contentWeights.length, this.content.length);
      const feeds = { ...(await this.imageFeeds(tile)), ...(await this.weightFeeds(weights)) };
      Object.assign(feeds, await this.contentFeeds(weights, targets));
      for (const [i, K] of gramGradients.entries()) {
        const c = this.style[i]!.channels;
        checkShape(`the Gram gradient ${i}`, K.shape, [this.rows(c), c]);
        feeds[io.gramGradient(i)] = await ortTensor(K);
      }
      const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);
      contentWeights.forEach((g, k) => (feeds[io.contentWeight(k)] = scalar(g)));
      feeds[io.variationWeight] = scalar(variationWeight);
      const out = await this.gradientLease.session.run(feeds, [io.gradient]);
      return tf.tensor4d(out[io.gradient]!.data as Float32Array, [1, this.height, this.width, 3]);
    });
  }

  /** Gives the sessions back to the engine's cache (once any run in progress is over). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.running === 0) this.release();
  }

  /** Runs `work` on the sessions, which a dispose meanwhile does not take away. */
  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    if (this.disposed) throw new Error('the tile kernel was disposed');
    this.running++;
    try {
      return await work();
    } finally {
      if (--this.running === 0 && this.disposed) this.release();
    }
  }

  private release(): void {
    this.sumsLease.release();
    this.gradientLease.release();
  }

  private async imageFeeds(tile: tf.Tensor4D): Promise<Record<string, Ort.Tensor>> {
    checkShape('the tile', tile.shape, [1, this.height, this.width, 3]);
    return { [TILE_IO.image]: await ortTensor(tile) };
  }

  /** The weight maps of the pixels and of the style layers. */
  private async weightFeeds(weights: TileWeights): Promise<Record<string, Ort.Tensor>> {
    checkShape('the image weight map', weights.image.shape, [this.height, this.width]);
    const feeds: Record<string, Ort.Tensor> = { [TILE_IO.imageWeights]: await ortTensor(weights.image) };
    checkCount('style weight maps', weights.style.length, this.style.length);
    for (const [i, { grid }] of this.style.entries()) {
      checkShape(`the style weight map ${i}`, weights.style[i]!.shape, grid);
      feeds[TILE_IO.styleWeights(i)] = await ortTensor(weights.style[i]!);
    }
    return feeds;
  }

  private async contentFeeds(
    weights: TileWeights,
    targets: readonly tf.Tensor4D[],
  ): Promise<Record<string, Ort.Tensor>> {
    const feeds: Record<string, Ort.Tensor> = {};
    checkCount('content weight maps', weights.content.length, this.content.length);
    checkCount('content targets', targets.length, this.content.length);
    for (const [k, { grid, channels }] of this.content.entries()) {
      checkShape(`the content weight map ${k}`, weights.content[k]!.shape, grid);
      checkShape(`the content target ${k}`, targets[k]!.shape, [1, ...grid, channels]);
      feeds[TILE_IO.contentWeights(k)] = await ortTensor(weights.content[k]!);
      feeds[TILE_IO.contentTarget(k)] = await nchwTensor(targets[k]!);
    }
    return feeds;
  }

  /** Zero weight maps and content targets (made once: the tile size is fixed). */
  private zeroFeeds(): { weights: Record<string, Ort.Tensor>; content: Record<string, Ort.Tensor> } {
    if (this.zeros) return this.zeros;
    const zeros = (dims: Shape) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    const weights: Record<string, Ort.Tensor> = { [TILE_IO.imageWeights]: zeros([this.height, this.width]) };
    const content: Record<string, Ort.Tensor> = {};
    this.style.forEach(({ grid }, i) => (weights[TILE_IO.styleWeights(i)] = zeros(grid)));
    this.content.forEach(({ grid, channels }, k) => {
      content[TILE_IO.contentWeights(k)] = zeros(grid);
      content[TILE_IO.contentTarget(k)] = zeros([1, channels, ...grid]);
    });
    return (this.zeros = { weights, content });
  }
}

/** A tile kernel on sessions of `cache` (built on first use): the engine's way, and the tests'. */
export async function createOnnxTileKernel(
  cache: SessionCache,
  weights: string,
  objective: Objective,
  [height, width]: readonly [number, number],
  graph: GraphSettings,
): Promise<OnnxTileKernel> {
  const deepest = modelOutputs(objective.styleLayers, objective.contentLayers).at(-1);
  if (!deepest) throw new RangeError('at least one style and one content layer are needed');
  const side = minSide(deepest);
  if (![height, width].every((d) => Number.isInteger(d) && d >= side))
    throw new RangeError(`tiles of ${height}×${width} px: each side must be an integer of at least ${side} px`);
  // Both graphs are written from one read of the weights.
  let convs: Promise<OnnxConv[]> | undefined;
  const readConvs = () => (convs ??= readOnnxConvs(weights, layersUpTo(deepest)));
  const lease = (kind: TileGraph, s: GraphSettings) =>
    cache.acquire(tileKey(kind, weights, objective, [height, width], s), async () =>
      tileSession(kind, await readConvs(), objective, [height, width], s),
    );
  const sums = await lease('tile-sums', sumsSettings(graph));
  try {
    return new OnnxTileKernel(sums, await lease('tile-gradient', graph), objective, height, width);
  } catch (error) {
    sums.release();
    throw error;
  }
}
