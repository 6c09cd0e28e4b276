/**
 * What an engine tells the memory guard (core/memory.ts): the peak memory of a run of a given
 * shape, and the ceiling of its own heap if it has one.
 */

/** What a run is: the working sizes (after scaling) and how it is optimised. */
export interface RunShape {
  /** Working size of the generated image in pixels (the last scale's). */
  height: number;
  width: number;
  /** Working sizes [h, w] of the style images (default: one the size of the generated image). */
  styleSizes?: readonly (readonly [number, number])[];
  /** The deepest VGG19 layer used (default block5_conv2, the default content layer). */
  deepestLayer?: string;
  /** Default 'adam'. */
  optimizer?: 'adam' | 'lbfgs';
  /** L-BFGS correction pairs kept (default 100). */
  history?: number;
}

export interface MemoryModel {
  /** Estimated peak bytes: of the engine's own heap, and of the whole process. */
  estimate(run: RunShape): { heap: number; rss: number };
  /** The most the engine's heap can grow to (wasm: 4 GiB), or null when only the system limits it. */
  heapLimit: number | null;
  /** Why the heap cannot grow further, for messages ("wasm heap, which cannot grow past 4 GiB …"). */
  heapLimitReason: string;
}
