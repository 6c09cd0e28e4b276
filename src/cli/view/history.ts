/** The costs of a run as it goes, for the plot and the preview page: one point per progress event. */
import type { Costs } from '../../optim/types.js';
import type { StylizeProgress } from '../../core/stylize.js';

export interface CostPoint {
  /** Iteration over all scales, seconds since the start, the scale (1-based). */
  iteration: number;
  seconds: number;
  scale: number;
  costs: Costs;
}

export const SERIES = ['total', 'content', 'style', 'variation'] as const;

export class CostHistory {
  readonly points: CostPoint[] = [];
  /** Where each scale starts: its first point's iteration and seconds, and its size. */
  readonly scales: { index: number; iteration: number; seconds: number; size: number }[] = [];

  add(e: StylizeProgress): void {
    const point = { iteration: e.run.iteration, seconds: e.elapsedMs / 1000, scale: e.scale.index, costs: e.costs };
    if (this.scales.at(-1)?.index !== e.scale.index) {
      this.scales.push({
        index: e.scale.index,
        iteration: point.iteration,
        seconds: point.seconds,
        size: e.scale.size,
      });
    }
    this.points.push(point);
  }
}
