/**
 * The objective evaluated tile by tile, on an engine's TileKernel, so that memory follows the
 * tile size rather than the image size. A Gram matrix is a sum over positions, so pass 1 adds up
 * each tile's weighted share of the whole image's Gram matrices (and of the content and
 * variational costs); pass 2 back-propagates each tile against the whole image's dJ/dG, and the
 * tiles' gradients are added where they overlap (their windows sum to 1). The costs and the
 * gradient are those of the whole image, exact where a tile's context margin covers the
 * receptive field (tiles.ts); the variational cost's, exact always.
 */
import * as tf from '@tensorflow/tfjs';
import { ort, type Ort } from './onnx/runtime.js';
import type { Costs, Evaluation } from '../optim/types.js';
import type { Engine, Evaluator, Objective, TargetImages, TileKernel, TileWeights } from './evaluator.js';
import { buildTileCostsModel, TILE_COSTS_IO } from './objective/tile-costs.js';
import { createSession, type CreatedSession } from './onnx/session.js';
import { prepareStyleTargets } from './onnx/targets.js';
import { slotsOf, type WeightMap } from './regions.js';
import { styleTargetsOf } from './targets.js';
import { pooledWindow, tileCount, tileLayout, type TileLayout } from './tiles.js';
import { layerGrid, modelOutputs, poolsBefore } from './vgg19.js';

/** A layer's poolings, which its weight maps are pooled by, and a style slot's own map (regions.ts). */
interface LayerShape {
  layer: string;
  pools: number;
  map?: WeightMap;
}

const layerShape = (layer: string): LayerShape => ({ layer, pools: poolsBefore(layer) });

/** Positions of a layer over an image of h × w px. */
const positions = (h: number, w: number, { layer }: LayerShape) => layerGrid(layer, h, w).reduce((a, b) => a * b);

/** One tile of a layout: where it is, and the windows that make its weights. */
interface Tile {
  y: number;
  x: number;
  rowWindow: Float64Array;
  colWindow: Float64Array;
}

function tilesOf(layout: TileLayout): Tile[] {
  const { rows, cols } = layout;
  return rows.origins.flatMap((y, i) =>
    cols.origins.map((x, j) => ({ y, x, rowWindow: rows.windows[i]!, colWindow: cols.windows[j]! })),
  );
}

/**
 * The weights of a tile at its pixels and at each style and content layer (tensors, the
 * caller's): its windows, times a style slot's map where the tile lies (origins are multiples of
 * the network's stride, so they fall on the layer's grid).
 */
function tileWeights(tile: Tile, style: readonly LayerShape[], content: readonly LayerShape[]): TileWeights {
  const at = ({ pools, map }: LayerShape) => {
    const r = pooledWindow(tile.rowWindow, pools);
    const c = pooledWindow(tile.colWindow, pools);
    const window = new Float32Array(r.length * c.length);
    const [y0, x0] = [tile.y / 2 ** pools, tile.x / 2 ** pools];
    for (let y = 0; y < r.length; y++) {
      for (let x = 0; x < c.length; x++) {
        const m = map ? map.data[(y0 + y) * map.width + x0 + x]! : 1;
        window[y * c.length + x] = r[y]! * c[x]! * m;
      }
    }
    return tf.tensor2d(window, [r.length, c.length]);
  };
  return { image: at({ layer: 'image', pools: 0 }), style: style.map(at), content: content.map(at) };
}

const disposeWeights = (w: TileWeights) => tf.dispose([w.image, ...w.style, ...w.content]);

/** Cuts a tile [1, th, tw, 3] out of an image's NHWC values. */
function cutTile(data: Float32Array, width: number, tile: Tile, th: number, tw: number): tf.Tensor4D {
  const out = new Float32Array(th * tw * 3);
  for (let r = 0; r < th; r++) {
    const from = ((tile.y + r) * width + tile.x) * 3;
    out.set(data.subarray(from, from + tw * 3), r * tw * 3);
  }
  return tf.tensor4d(out, [1, th, tw, 3]);
}

/** Adds a tile's gradient [th·tw·3] into the whole image's. */
function addTile(sum: Float32Array, width: number, tile: Tile, th: number, tw: number, part: Float32Array): void {
  for (let r = 0; r < th; r++) {
    const to = ((tile.y + r) * width + tile.x) * 3;
    for (let i = 0; i < tw * 3; i++) sum[to + i]! += part[r * tw * 3 + i]!;
  }
}

/**
 * Σ over an image's tiles of `kernel.sums`: the Gram matrices' weighted sums at the style layers
 * (the caller's), the content sums and the variational cost, with `targets[t]` the content
 * targets of tile t.
 */
async function sumTiles(
  kernel: TileKernel,
  layout: TileLayout,
  data: Float32Array,
  shapes: { style: LayerShape[]; content: LayerShape[] },
  targets: readonly tf.Tensor4D[][] | null,
  onTile?: (t: number) => void,
): Promise<{ grams: tf.Tensor2D[]; content: number[]; variation: number }> {
  let grams: tf.Tensor2D[] = [];
  const content = shapes.content.map(() => 0);
  let variation = 0;
  for (const [t, tile] of tilesOf(layout).entries()) {
    const image = cutTile(data, layout.width, tile, layout.rows.size, layout.cols.size);
    const weights = tileWeights(tile, shapes.style, shapes.content);
    try {
      const sums = await kernel.sums(image, weights, targets ? targets[t]! : null);
      const next = grams.length ? sums.grams.map((g, l) => tf.add(grams[l]!, g) as tf.Tensor2D) : sums.grams;
      if (grams.length) tf.dispose([...grams, ...sums.grams]);
      grams = next;
      sums.content.forEach((v, k) => (content[k]! += v));
      variation += sums.variation;
      onTile?.(t);
    } catch (error) {
      tf.dispose(grams);
      throw error;
    } finally {
      tf.dispose(image);
      disposeWeights(weights);
    }
  }
  return { grams, content, variation };
}

/** Evaluates J and dJ/dimage tile by tile (see the module's comment). */
export class TiledEvaluator implements Evaluator {
  private readonly tiles: Tile[];
  private readonly shapes: { style: LayerShape[]; content: LayerShape[] };
  /** The gradient being summed, kept from one evaluation to the next (an image-sized array less for the collector). */
  private readonly gradientSum: Float32Array;
  /** Called after each tile of an evaluation: tiles done (both passes) of 2 × tileCount; for a progress display. */
  onTile?: (done: number, total: number) => void;

  private constructor(
    private readonly kernel: TileKernel,
    private readonly objective: Objective,
    readonly layout: TileLayout,
    /** Per style layer the style loss's target from the blended statistics, [1, rows, c]. */
    private readonly styleTargets: tf.Tensor3D[],
    /** Per tile, per content layer, the content image's activations on that tile. */
    private readonly contentTargets: tf.Tensor4D[][],
    /** The tile costs graph (objective/tile-costs.ts): the costs and K, γ from the summed tiles. */
    private readonly costSession: CreatedSession,
    /** Per style slot its map over the whole image (regions.ts). */
    maps?: readonly WeightMap[],
  ) {
    this.tiles = tilesOf(layout);
    this.shapes = shapesOf(objective, maps);
    this.gradientSum = new Float32Array(layout.height * layout.width * 3);
  }

  /** Tiles of at most `tileSize` px; the style targets are themselves computed in tiles of that size. */
  static async create(engine: Engine, given: Objective, images: TargetImages, tileSize: number) {
    const [, h, w] = images.content.shape;
    const layout = layoutFor(given, h, w, tileSize);
    // The style targets first, so that their kernel (of another size) is gone before this one is made.
    const style = await styleTargets(engine, given, images, tileSize);
    // With regions, the tiles run over their style slots, each with its map.
    const slots = images.regions ? slotsOf(given, images.regions, [h, w]) : null;
    const objective = slots?.objective ?? given;
    let kernel: TileKernel | null = null;
    let costSession: CreatedSession | null = null;
    const content: tf.Tensor4D[][] = [];
    try {
      const { styleLayers, contentLayers, styleLoss } = objective;
      const spec = { height: h, width: w, styleLayers, contentLayers, styleLoss };
      costSession = await createSession(buildTileCostsModel(spec), { threads: 1 });
      kernel = await engine.createTileKernel(objective, [layout.rows.size, layout.cols.size]);
      const data = (await images.content.data()) as Float32Array;
      for (const tile of tilesOf(layout)) {
        const image = cutTile(data, w, tile, layout.rows.size, layout.cols.size);
        try {
          content.push(await kernel.features(image));
        } finally {
          image.dispose();
        }
      }
      return new TiledEvaluator(kernel, objective, layout, style, content, costSession, slots?.maps);
    } catch (error) {
      tf.dispose([...style, ...content.flat()]);
      kernel?.dispose();
      await costSession?.session.release();
      throw error;
    }
  }

  /** How many tiles an evaluation runs (twice: one pass for the sums, one for the gradient). */
  get tileCount(): number {
    return tileCount(this.layout);
  }

  async evaluate(image: tf.Tensor4D): Promise<Evaluation> {
    const { layout, objective, shapes } = this;
    const { height: h, width: w } = layout;
    const data = (await image.data()) as Float32Array;
    const total = 2 * this.tiles.length;
    const sums = await sumTiles(this.kernel, layout, data, shapes, this.contentTargets, (t) =>
      this.onTile?.(t + 1, total),
    );
    let tileCosts;
    try {
      tileCosts = await this.costs(sums.grams, sums.content);
    } finally {
      tf.dispose(sums.grams);
    }
    const { costs, gramGradients, contentWeights } = tileCosts;
    costs.variation = sums.variation;
    costs.total =
      objective.alpha * costs.content + objective.beta * costs.style + objective.variation * costs.variation;
    const seeds = { gramGradients, contentWeights, variationWeight: objective.variation };
    const gradient = this.gradientSum.fill(0);
    try {
      for (const [t, tile] of this.tiles.entries()) {
        const part = cutTile(data, w, tile, layout.rows.size, layout.cols.size);
        const weights = tileWeights(tile, shapes.style, shapes.content);
        try {
          const g = await this.kernel.gradient(part, weights, this.contentTargets[t]!, seeds);
          addTile(gradient, w, tile, layout.rows.size, layout.cols.size, (await g.data()) as Float32Array);
          g.dispose();
          this.onTile?.(this.tiles.length + t + 1, total);
        } finally {
          part.dispose();
          disposeWeights(weights);
        }
      }
    } finally {
      tf.dispose(gramGradients);
    }
    return { gradient: tf.tensor4d(gradient, [1, h, w, 3]), costs };
  }

  /** The whole image's costs from the tiles' sums, and what pass 2 needs: K_l = dJ/dS_l and γ_k = dJ/dC_k. */
  private async costs(grams: readonly tf.Tensor2D[], content: readonly number[]) {
    const { objective } = this;
    const io = TILE_COSTS_IO;
    const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);
    const feeds: Record<string, Ort.Tensor> = {
      [io.alpha]: scalar(objective.alpha),
      [io.beta]: scalar(objective.beta),
      [io.styleLayerWeights]: new ort.Tensor('float32', Float32Array.from(objective.styleLayerWeights), [grams.length]),
    };
    const ortOf = (t: tf.Tensor) => new ort.Tensor('float32', Float32Array.from(t.dataSync()), t.shape);
    grams.forEach((s, l) => {
      feeds[io.styleSums(l)] = ortOf(s);
      feeds[io.styleTarget(l)] = ortOf(this.styleTargets[l]!);
    });
    content.forEach((v, k) => (feeds[io.contentSum(k)] = scalar(v)));
    const out = await this.costSession.session.run(feeds);
    const value = (name: string) => (out[name]!.data as Float32Array)[0]!;
    const gramGradients = grams.map((s, l) => tf.tensor2d(out[io.gramGradient(l)]!.data as Float32Array, s.shape));
    const contentWeights = content.map((_, k) => value(io.contentWeight(k)));
    const costs: Costs = { total: 0, content: value(io.content), style: value(io.style), variation: 0 };
    return { costs, gramGradients, contentWeights };
  }

  dispose(): void {
    tf.dispose([...this.styleTargets, ...this.contentTargets.flat()]);
    this.kernel.dispose();
    void this.costSession.session.release();
  }
}

/** The tiles of an image of h × w px for the objective's layers. */
export const layoutFor = (objective: Objective, h: number, w: number, tileSize: number) =>
  tileLayout(h, w, tileSize, modelOutputs(objective.styleLayers, objective.contentLayers).at(-1)!);

function shapesOf(objective: Objective, maps?: readonly WeightMap[]): { style: LayerShape[]; content: LayerShape[] } {
  const style = objective.styleLayers.map((layer, i) => ({ ...layerShape(layer), map: maps?.[i] }));
  return { style, content: objective.contentLayers.map(layerShape) };
}

/** Per style layer a style image's statistics, summed over its own tiles and averaged over its positions. */
async function styleStatistics(
  engine: Engine,
  objective: Objective,
  style: tf.Tensor4D,
  tileSize: number,
): Promise<tf.Tensor3D[]> {
  const shapes = shapesOf(objective);
  const [, h, w] = style.shape;
  const layout = layoutFor(objective, h, w, tileSize);
  const kernel = await engine.createTileKernel(objective, [layout.rows.size, layout.cols.size]);
  try {
    const { grams } = await sumTiles(kernel, layout, (await style.data()) as Float32Array, shapes, null);
    const stats = tf.tidy(() =>
      grams.map((s, l) => tf.mul(s, 1 / positions(h, w, shapes.style[l]!)).expandDims(0) as tf.Tensor3D),
    );
    tf.dispose(grams);
    return stats;
  } finally {
    kernel.dispose();
  }
}

/** The style loss's targets (engine/targets.ts styleTargetsOf), each style image's statistics summed over its tiles. */
async function styleTargets(
  engine: Engine,
  objective: Objective,
  images: TargetImages,
  tileSize: number,
): Promise<tf.Tensor3D[]> {
  const statistics: tf.Tensor3D[][] = [];
  try {
    for (const style of images.styles) statistics.push(await styleStatistics(engine, objective, style, tileSize));
    return await styleTargetsOf(statistics, images, (blend) => prepareStyleTargets(objective, blend, { threads: 1 }));
  } finally {
    tf.dispose(statistics.flat());
  }
}
