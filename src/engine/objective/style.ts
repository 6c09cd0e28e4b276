/**
 * The style losses: how a style layer's features are summarised (statistics summed over
 * positions, so that tiles add up to the whole image's) and how far the summary is from the
 * style's. Each loss is one object; its gradient is derived like every other term's.
 */
import type { GraphBuilder } from '../graph/builder.js';
import { gramCost, gramSum } from './costs.js';
import { w2 } from './w2.js';

export interface StyleLoss {
  /** Rows of a layer's statistics [rows, c] for c channels. */
  rows(c: number): number;
  /** Σₚ m(p)·(the statistics of position p) over F [c, n], [rows, c]; without m every position weighs 1. */
  sums(g: GraphBuilder, flat: string, c: number, weights?: string): string;
  /**
   * The target as `cost` takes it, [rows, c], from the style's statistics averaged over its
   * positions (and blended over the style images); run once per target. Absent: those averages.
   */
  prepare?(g: GraphBuilder, means: string, c: number): string;
  /** A layer's cost (a float64 scalar) from its averaged statistics [rows, c] and the prepared target. */
  cost(g: GraphBuilder, means: string, target: string, c: number): string;
  /**
   * The same cost straight from the features F [c, n], where no tiles need the sums: for a loss
   * whose statistics round better computed another way. Absent: `cost` of the sums' averages.
   */
  direct?(g: GraphBuilder, flat: string, target: string, c: number): string;
}

/** Gatys et al.'s: the Gram matrix F Fᵀ / n, and mean((G − A)²). */
export const gram: StyleLoss = {
  rows: (c) => c,
  sums: (g, flat, _c, weights) => gramSum(g, flat, weights),
  cost: (g, means, target) => gramCost(g, means, target),
};

export const STYLE_LOSSES = { gram, w2 } as const;
export type StyleLossName = keyof typeof STYLE_LOSSES;
export const STYLE_LOSS_NAMES = Object.keys(STYLE_LOSSES) as StyleLossName[];

/** The style loss an objective or a graph's spec asks for ('gram' when it names none). */
export const styleLossOf = ({ styleLoss }: { styleLoss?: StyleLossName }): StyleLoss =>
  STYLE_LOSSES[styleLoss ?? 'gram'];

/** The averaged statistics [rows, c] of a layer: its sums over its positions. */
export const meansOf = (g: GraphBuilder, sums: string, positions: string) =>
  g.op('Div', [sums, positions], {}, 'style_means');
