/**
 * Styles by region (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"):
 * a region's statistics are its features' statistics weighted by its mask at that layer's
 * resolution, matched to its own style's. The objective is expanded into style slots, one per
 * region and style layer (region-major); a slot weighs each position by its mask scaled to mean
 * 1 over the region (so that the slot's averaged statistics are the region's) and counts in the
 * style cost by its layer's weight times the share of the layer the region covers. Where no mask
 * covers the output, no style cost applies: the content and variational costs alone hold there.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Objective } from './evaluator.js';
import { layerGrid, poolsBefore } from './vgg19.js';

/** Where each style goes in the output. */
export interface StyleRegions {
  /** Per region, [h, w] in [0, 1] at the content image's working size. */
  masks: readonly tf.Tensor2D[];
  /** Per region, the style image whose statistics it takes; null: the blend of them all. */
  styles: readonly (number | null)[];
}

/** A weight map at a layer's grid, row-major. */
export interface WeightMap {
  data: Float32Array;
  height: number;
  width: number;
}

/**
 * A mask [h, w] after `pools` 2×2 average poolings, odd last rows and columns dropped: at a
 * layer's resolution, as the features are.
 */
export function poolMask(map: WeightMap, pools: number): WeightMap {
  let { data, height, width } = map;
  for (let p = 0; p < pools; p++) {
    const [h, w] = [Math.floor(height / 2), Math.floor(width / 2)];
    const out = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (dy: number, dx: number) => data[(2 * y + dy) * width + 2 * x + dx]!;
        out[y * w + x] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
      }
    }
    [data, height, width] = [out, h, w];
  }
  return { data, height, width };
}

/** The objective over style slots, and each slot's weight map at its layer's grid. */
export interface RegionSlots {
  /** The style layers repeated per region, each slot weighted by w_l × the region's share of layer l. */
  objective: Objective;
  maps: WeightMap[];
  /** Per slot, the region it belongs to. */
  regions: number[];
}

/** Expands `objective` into style slots for masks [h, w] (values, row-major) at the content's size. */
export function regionSlots(objective: Objective, masks: readonly Float32Array[], h: number, w: number): RegionSlots {
  const styleLayers: string[] = [];
  const styleLayerWeights: number[] = [];
  const maps: WeightMap[] = [];
  const regions: number[] = [];
  masks.forEach((mask, r) => {
    objective.styleLayers.forEach((layer, l) => {
      const pooled = poolMask({ data: mask, height: h, width: w }, poolsBefore(layer));
      const positions = layerGrid(layer, h, w).reduce((a, b) => a * b);
      const area = pooled.data.reduce((a, b) => a + b, 0);
      // Scaled to mean 1 over the region; a region that vanishes at this layer weighs nothing.
      const scale = area > 0 ? positions / area : 0;
      maps.push({ ...pooled, data: pooled.data.map((v) => v * scale) });
      styleLayers.push(layer);
      styleLayerWeights.push((objective.styleLayerWeights[l]! * area) / positions);
      regions.push(r);
    });
  });
  return { objective: { ...objective, styleLayers, styleLayerWeights, styleMaps: true }, maps, regions };
}

/** The slots of `regions` on an image of [h, w] (the masks must be of that size). */
export function slotsOf(objective: Objective, regions: StyleRegions, [h, w]: readonly [number, number]): RegionSlots {
  if (regions.masks.length !== regions.styles.length) throw new RangeError('each region needs its style');
  const masks = regions.masks.map((mask, r) => {
    if (mask.shape[0] !== h || mask.shape[1] !== w)
      throw new RangeError(`the mask of region ${r} is [${mask.shape.join(', ')}], the image [${h}, ${w}]`);
    return mask.dataSync() as Float32Array;
  });
  return regionSlots(objective, masks, h, w);
}
