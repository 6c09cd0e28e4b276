/**
 * What every engine does the same way with the targets: fingerprints of images (the style cache's
 * keys, and the inputs a checkpoint records) and the blend Σ wᵢ·Gᵢ of the style images' Gram matrices.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { Objective, TargetImages } from './evaluator.js';

/**
 * Gram matrices of style images already computed, keyed by `styleKey`: a batch over many contents
 * with one style computes them once. The cache owns its tensors.
 */
export interface StyleCache {
  get(key: string): tf.Tensor3D[] | undefined;
  set(key: string, grams: tf.Tensor3D[]): unknown;
  readonly size: number;
  values(): IterableIterator<tf.Tensor3D[]>;
  clear(): void;
}

/** Style images whose statistics an engine keeps: a few MB each, at each working size. */
export const STYLE_CACHE_ENTRIES = 32;

/**
 * A StyleCache that keeps the `limit` most recently used entries: a long-lived process (a queue
 * worker, a batch over many paintings) does not grow with every style it has seen. `trim` releases
 * the others; it is called before targets are computed, never while a computation holds entries.
 */
export class RecentStyles implements StyleCache {
  private readonly entries = new Map<string, tf.Tensor3D[]>();

  constructor(private readonly limit = STYLE_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): tf.Tensor3D[] | undefined {
    const grams = this.entries.get(key);
    if (grams) {
      this.entries.delete(key); // most recent last
      this.entries.set(key, grams);
    }
    return grams;
  }

  set(key: string, grams: tf.Tensor3D[]): this {
    this.entries.set(key, grams);
    return this;
  }

  values(): IterableIterator<tf.Tensor3D[]> {
    return this.entries.values();
  }

  /** Releases the least recently used entries beyond the limit. */
  trim(): void {
    for (const [key, grams] of this.entries) {
      if (this.entries.size <= this.limit) break;
      this.entries.delete(key);
      tf.dispose(grams);
    }
  }

  clear(): void {
    for (const grams of this.entries.values()) tf.dispose(grams);
    this.entries.clear();
  }
}

/** SHA-256 of tensors' shapes and values: equal for equal images. */
export function fingerprint(images: readonly tf.Tensor[]): string {
  const hash = createHash('sha256');
  for (const image of images) {
    const data = image.dataSync() as Float32Array;
    hash.update(image.shape.join('x'));
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** A style image's key in the StyleCache: its pixels, the style layers and the pooling. */
export const styleKey = (image: tf.Tensor4D, objective: Objective): string =>
  `${fingerprint([image])} ${objective.styleLayers.join(',')} ${objective.pooling} ${objective.styleLoss ?? 'gram'}`;

/** The running blend with one more style image's Gram matrices × `weight` (new tensors; `sum` is released). */
export function addWeightedGrams(sum: tf.Tensor3D[], grams: readonly tf.Tensor3D[], weight: number): tf.Tensor3D[] {
  const next = tf.tidy(() =>
    grams.map((gram, l) => {
      const g = tf.mul(gram, weight) as tf.Tensor3D;
      return sum[l] ? (tf.add(sum[l]!, g) as tf.Tensor3D) : g;
    }),
  );
  tf.dispose(sum);
  return next;
}

/**
 * The style targets from each style image's statistics (per style layer, averaged over its
 * positions; still the caller's): of the blend Σ wᵢ·Sᵢ, or with regions (regions.ts) of each
 * region's own style or the blend, region by region in the order of its style slots. `prepare`
 * makes a blend into the targets the loss takes (it takes the blend).
 */
export async function styleTargetsOf(
  statistics: readonly (readonly tf.Tensor3D[])[],
  images: TargetImages,
  prepare: (blend: tf.Tensor3D[]) => Promise<tf.Tensor3D[]>,
): Promise<tf.Tensor3D[]> {
  const all = statistics.map((_, i) => i);
  const targets: tf.Tensor3D[] = [];
  try {
    for (const source of images.regions?.styles ?? [null]) {
      const which = source === null ? all : [source];
      let blend: tf.Tensor3D[] = [];
      for (const i of which)
        blend = addWeightedGrams(blend, statistics[i]!, which.length === 1 ? 1 : images.styleWeights[i]!);
      targets.push(...(await prepare(blend)));
    }
    return targets;
  } catch (error) {
    tf.dispose(targets);
    throw error;
  }
}
