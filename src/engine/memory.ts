/**
 * What an engine tells the memory guard (core/memory.ts): the peak memory of a run of a given
 * shape, and the ceiling of its own heap if it has one.
 */
import { layersUpTo } from './vgg19.js';

/** A wasm heap cannot grow past this (wasm32's 4 GiB address space, as Emscripten's getHeapMax says). */
export const WASM_HEAP_LIMIT = 4294901760;

/** What a run is: the working sizes (after scaling) and how it is optimised. */
export interface RunShape {
  /** Working size of the generated image in pixels (the last scale's). */
  height: number;
  width: number;
  /** Working sizes [h, w] of the style images (default: one the size of the generated image). */
  styleSizes?: readonly (readonly [number, number])[];
  /** The deepest VGG19 layer used (default block5_conv2, the seed's: as deep as the default run goes, or deeper). */
  deepestLayer?: string;
  /** Default 'adam'. */
  optimizer?: 'adam' | 'lbfgs';
  /** L-BFGS correction pairs kept (default 100). */
  history?: number;
  /** Evaluated in tiles of at most this many px (engine/tiled.ts): the network's memory is a tile's. */
  tile?: number;
}

/**
 * Image-sized buffers of a tiled run beyond a whole one's: fitted to the peaks of Adam runs in
 * 512-px tiles at 1024 and 2048 px (bench/results/tiles.json, within 2%, 16 image copies in all
 * with Adam's two): the image's values and the summed gradient on plain arrays, the gradient's
 * tensor, and the content targets of the tiles, which overlap.
 */
export const TILED_IMAGES = 6;

/**
 * The sizes the network runs at in a run: the whole images, or in a tiled run one tile (the
 * largest a tile of the image or of a style image gets); and the image-sized buffers a tiled
 * evaluation adds to a whole one's (TILED_IMAGES).
 */
export function networkSizes(run: RunShape): {
  height: number;
  width: number;
  styleSizes: readonly (readonly [number, number])[];
  tiledImages: number;
} {
  const { height, width, tile } = run;
  const styleSizes = run.styleSizes ?? [[height, width] as const];
  if (tile === undefined) return { height, width, styleSizes, tiledImages: 0 };
  const clip = ([h, w]: readonly [number, number]) => [Math.min(h, tile), Math.min(w, tile)] as const;
  const [th, tw] = clip([height, width]);
  return { height: th, width: tw, styleSizes: styleSizes.map(clip), tiledImages: TILED_IMAGES };
}

export interface MemoryModel {
  /** Estimated peak bytes: of the engine's own heap, and of the whole process. */
  estimate(run: RunShape): { heap: number; rss: number };
  /** The most the engine's heap can grow to (wasm: 4 GiB), or null when only the system limits it. */
  heapLimit: number | null;
  /** Why the heap cannot grow further, for messages ("wasm heap, which cannot grow past 4 GiB …"). */
  heapLimitReason: string;
  /**
   * The heap is a GPU's own memory, apart from the process's: a memory limit given for the run
   * applies to it (its `heapLimit` is what the driver reports, or null), not to the process.
   */
  deviceHeap?: boolean;
}

/** Bytes of the float32 weights loaded to reach `deepestLayer`, and of every layer output up to it. */
export function networkBytes(
  height: number,
  width: number,
  deepestLayer = 'block5_conv2',
): { weights: number; outputs: number } {
  let [h, w, channels] = [height, width, 3];
  let weights = 0;
  let outputs = 0;
  for (const layer of layersUpTo(deepestLayer)) {
    if (layer.kind === 'conv') {
      const [kh, kw, cin, cout] = layer.spec.shape;
      weights += kh * kw * cin * cout + cout;
      channels = cout;
    } else {
      // 2×2 pooling, valid padding.
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
    outputs += h * w * channels;
  }
  return { weights: 4 * weights, outputs: 4 * outputs };
}
