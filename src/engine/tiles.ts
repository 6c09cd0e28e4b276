/**
 * How a tiled evaluation cuts an image: equal tiles whose origins are multiples of the network's
 * stride, so that each tile's pooled grids line up with the whole image's; around each tile's
 * share a margin of context whose positions weigh nothing, so that the convolutions near a
 * share's edge see real neighbours; and windows that ramp across the overlaps and sum to 1 at
 * every position, at every layer.
 */
import { layersUpTo } from './vgg19.js';

/** The network's stride at block5 (four 2×2 poolings): tile origins are multiples of it. */
export const TILE_ALIGN = 16;
/** The smallest tile side: two margins of the smallest context, a ramp and the alignment. */
export const MIN_TILE_SIZE = 80;

/**
 * How far (px) the value at a position of `layer` depends on the image: each 3×3 convolution
 * reaches one more position of its grid, each 2×2 pooling one more on one side.
 */
export function receptiveRadius(layer: string): number {
  let radius = 0;
  let stride = 1;
  for (const l of layersUpTo(layer)) {
    radius += stride;
    if (l.kind === 'pool') stride *= 2;
  }
  return radius;
}

/**
 * The context margin and the ramp of a tile size, in px: the receptive field of the deepest layer
 * (exact), but at most an eighth of the tile (64 px at 512-px tiles: the tiles' overlap then costs
 * about twice the pixels; block5's 101 px would cost four times); at least 16, so that a tile's
 * dropped odd rows (< 16 px) lie in weightless context.
 */
export function tileGeometry(tileSize: number, deepest: string): { context: number; ramp: number } {
  const exact = Math.ceil(receptiveRadius(deepest) / TILE_ALIGN) * TILE_ALIGN;
  const context = Math.max(16, Math.min(exact, Math.floor(tileSize / 8 / TILE_ALIGN) * TILE_ALIGN));
  return { context, ramp: context / 2 };
}

/** The tiles along one axis: their common size, their origins and each one's window over its size. */
export interface TileAxis {
  size: number;
  origins: number[];
  windows: Float64Array[];
}

/**
 * The largest tile size ≤ `tileSize` that is congruent to `length` modulo the alignment, so that
 * the last tile ends at the image's edge with an aligned origin.
 */
function alignedSize(length: number, tileSize: number): number {
  const r = length % TILE_ALIGN;
  return Math.floor((tileSize - r) / TILE_ALIGN) * TILE_ALIGN + r;
}

/** Aligned origins from 0 to length − size with no gap wider than `spacing`. */
function origins(length: number, size: number, spacing: number): number[] {
  for (let n = 1 + Math.ceil((length - size) / spacing); ; n++) {
    const o = Array.from({ length: n }, (_, k) =>
      k === n - 1 ? length - size : Math.floor((k * (length - size)) / (n - 1) / TILE_ALIGN) * TILE_ALIGN,
    );
    if (o.every((x, k) => k === 0 || x - o[k - 1]! <= spacing)) return o;
  }
}

/** Each tile's raw weight: 0 in its context margins, ramping up to 1 inward from each inner edge. */
function rawWindow(size: number, first: boolean, last: boolean, context: number, ramp: number): Float64Array {
  const start = first ? 0 : context;
  const end = last ? size : size - context;
  const w = new Float64Array(size);
  for (let y = start; y < end; y++) {
    const fromStart = first ? Infinity : (y - start + 0.5) / ramp;
    const fromEnd = last ? Infinity : (end - y - 0.5) / ramp;
    w[y] = Math.min(1, fromStart, fromEnd);
  }
  return w;
}

/** Cuts an axis of `length` px into tiles of at most `tileSize` px. */
export function tileAxis(length: number, tileSize: number, deepest: string): TileAxis {
  if (length <= tileSize) return { size: length, origins: [0], windows: [new Float64Array(length).fill(1)] };
  const size = alignedSize(length, tileSize);
  const { context, ramp } = tileGeometry(size, deepest);
  const spacing = size - 2 * context - ramp;
  if (spacing < TILE_ALIGN) throw new RangeError(`a tile of ${tileSize} px is too small (at least ${MIN_TILE_SIZE})`);
  const o = origins(length, size, spacing);
  const raw = o.map((_, k) => rawWindow(size, k === 0, k === o.length - 1, context, ramp));
  // Normalise so that the tiles' weights sum to 1 at every position of the axis.
  const total = new Float64Array(length);
  raw.forEach((w, k) => w.forEach((v, y) => (total[o[k]! + y]! += v)));
  const windows = raw.map((w, k) => w.map((v, y) => (v === 0 ? 0 : v / total[o[k]! + y]!)));
  return { size, origins: o, windows };
}

/** The tiles of an image: rows × columns. */
export interface TileLayout {
  height: number;
  width: number;
  rows: TileAxis;
  cols: TileAxis;
}

/** Tiles of at most `tileSize` px for a network up to the layer `deepest`. */
export function tileLayout(height: number, width: number, tileSize: number, deepest: string): TileLayout {
  return { height, width, rows: tileAxis(height, tileSize, deepest), cols: tileAxis(width, tileSize, deepest) };
}

export const tileCount = (layout: TileLayout) => layout.rows.origins.length * layout.cols.origins.length;

/**
 * A tiled evaluation's passes over the network, in whole evaluations: a whole one runs forward and
 * back once (a backward pass ≈ two forward ones: 3 forward passes' work); a tile runs forward in
 * pass 1, and forward and back again in pass 2 (4).
 */
export const TILED_PASSES = 4 / 3;

/**
 * The work of an evaluation in these tiles relative to a whole evaluation of the image: the tiles'
 * pixels, context margins included, over the image's, times TILED_PASSES: for an ETA. At 1024×768
 * in 512-px tiles 2.67; measured on the ONNX engine, 20.3 s an Adam iteration against 7.8 s whole (2.6).
 */
export function tiledWork(layout: TileLayout): number {
  const pixels = tileCount(layout) * layout.rows.size * layout.cols.size;
  return (pixels / (layout.height * layout.width)) * TILED_PASSES;
}

/**
 * A window after `pools` 2×2 average poolings (odd last values dropped, as the network does):
 * since pooling is linear and the origins are aligned, the tiles' pooled windows still sum to 1.
 */
export function pooledWindow(window: Float64Array, pools: number): Float64Array {
  let w = window;
  for (let p = 0; p < pools; p++) {
    const half = new Float64Array(Math.floor(w.length / 2));
    for (let i = 0; i < half.length; i++) half[i] = (w[2 * i]! + w[2 * i + 1]!) / 2;
    w = half;
  }
  return w;
}
