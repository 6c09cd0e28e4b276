/**
 * Winograd's minimal filtering for 3×3 stride-1 'same' convolutions (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016) written as ONNX operators, so that it runs
 * on every execution provider: F(m×m, 3×3) computes each m×m output tile from a t×t input tile
 * (t = m + 2) with t² multiplications per channel pair instead of 9m², trading them for transforms
 * of the input and output tiles (memory traffic): Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A.
 *
 * The transforms come from Toom–Cook interpolation at points closed under p ↦ 1/p (0 ↔ ∞), so
 * that the transformed kernel of a convolution also serves the convolution by its flipped,
 * channel-swapped kernel (the input gradient): G·J = S·P·G for a permutation P and signs or powers
 * of two S, folded into that convolution's constant transforms.
 */
import { FLOAT, int, ints, string, type GraphBuilder } from './builder.js';

/** The output tile's side: F(2×2, 3×3) or F(4×4, 3×3). */
export type TileSize = 2 | 4;

type Matrix = number[][];

/** The interpolation points besides ∞: closed under p ↦ 1/p. */
const POINTS: Record<TileSize, readonly number[]> = { 2: [0, 1, -1], 4: [0, 1, -1, 2, 1 / 2] };

/** The inverse of a small square matrix (Gauss–Jordan with partial pivoting, float64). */
function invert(a: Matrix): Matrix {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...row.map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const pivot = m[c]![c]!;
    m[c] = m[c]!.map((v) => v / pivot);
    for (let r = 0; r < n; r++) {
      const f = m[r]![c]!;
      if (r !== c && f !== 0) m[r] = m[r]!.map((v, j) => v - f * m[c]![j]!);
    }
  }
  return m.map((row) => row.slice(n));
}

export interface Transforms {
  m: TileSize;
  t: number;
  /** Bᵀ [t, t]: the input tile's transform. */
  bt: Matrix;
  /** G [t, 3]: the kernel's transform. */
  g: Matrix;
  /** Aᵀ [m, t]: the output tile's transform. */
  at: Matrix;
  /** The flip relation: row a of G·J (the kernel reversed) is flip.scale[a] × row flip.row[a] of G. */
  flip: { row: number[]; scale: number[] };
}

/**
 * F(m, 3) for correlation by the transposition principle: Toom–Cook's linear convolution of a
 * 3-tap g by an m-tap e evaluates both at the points and ∞ and interpolates (the inverse V⁻¹ of
 * the evaluation matrix of t coefficients); correlation is its transpose, y = Aₑᵀ[(A_g g) ⊙ V⁻ᵀd].
 * Each row's 1/Π(pⱼ − pₗ) moves from Bᵀ to G, as in Lavin & Gray (points 0, ±1, ±2 give theirs).
 */
function toomCook(m: TileSize): Transforms {
  const points = POINTS[m];
  const t = m + 2;
  const powers = (p: number, n: number) => Array.from({ length: n }, (_, k) => p ** k);
  const atInfinity = (n: number) => Array.from({ length: n }, (_, k) => (k === n - 1 ? 1 : 0));
  const rows = (n: number) => [...points.map((p) => powers(p, n)), atInfinity(n)];
  const f = [...points.map((p) => points.reduce((a, q) => (q === p ? a : a * (p - q)), 1)), 1];
  const g = rows(3).map((row, j) => row.map((v) => v / f[j]!));
  const inverse = invert(rows(t));
  const bt = inverse[0]!.map((_, j) => inverse.map((row) => row[j]! * f[j]!));
  const ae = rows(m);
  const at = ae[0]!.map((_, i) => ae.map((row) => row[i]!));
  return { m, t, bt, g, at, flip: flipRelation(g) };
}

/** Finds, for each row of G reversed, the row of G it is a multiple of, and the factor. */
function flipRelation(g: Matrix): Transforms['flip'] {
  const row: number[] = [];
  const scale: number[] = [];
  for (const r of g) {
    const reversed = [...r].reverse();
    const b = g.findIndex((s) => {
      const k = s.findIndex((v) => v !== 0);
      const ratio = reversed[k]! / s[k]!;
      return s.every((v, i) => Math.abs(reversed[i]! - ratio * v) <= 1e-12 * Math.abs(reversed[i]!) + 1e-15);
    });
    if (b < 0) throw new Error('Winograd points not closed under inversion');
    const k = g[b]!.findIndex((v) => v !== 0);
    row.push(b);
    scale.push(reversed[k]! / g[b]![k]!);
  }
  return { row, scale };
}

const cache = new Map<TileSize, Transforms>();
export function transformsOf(m: TileSize): Transforms {
  let found = cache.get(m);
  if (!found) cache.set(m, (found = toomCook(m)));
  return found;
}

/** M ⊗ M for an [r, c] matrix: [r², c²], row (a, b) and column (i, j) holding M[a][i]·M[b][j]. */
function kronecker(m: Matrix): Matrix {
  const out: Matrix = [];
  for (const ra of m) for (const rb of m) out.push(ra.flatMap((x) => rb.map((y) => x * y)));
  return out;
}

/**
 * The transformed kernel U = G g Gᵀ of a kernel [out, in, 3, 3], as [t², out, in]: nodes on the
 * constant kernel, which ONNX Runtime folds into a constant when it loads the graph (so the model
 * carries the kernel itself, a quarter of U's size).
 */
export function kernelTransform(
  g: GraphBuilder,
  kernel: string,
  [outChannels, inChannels]: readonly [number, number],
  m: TileSize,
) {
  const t = m + 2;
  const taps = g.op('Reshape', [g.op('Transpose', [kernel], { perm: ints([2, 3, 0, 1]) }), g.int64s([9, -1])]);
  const gg = g.constantOf(FLOAT, kronecker(transformsOf(m).g).flat(), [t * t, 9], 'winograd_g');
  return g.op('Reshape', [g.op('MatMul', [gg, taps]), g.int64s([t * t, outChannels, inChannels])], {}, 'winograd_u');
}

/**
 * Every t×t input tile at stride m transformed, (Bᵀ⊗Bᵀ)·d, for x [1, c, h, w], with its grid of
 * tiles [down, across]: x padded by 1 (the 'same' convolution's border) and on the bottom and
 * right up to whole tiles, its channels moved to the batch axis, then one strided Conv by the t²
 * rows of `bb` as t×t kernels: [c, t², down, across], the tile extraction and the transform in one
 * pass. Then laid out [t², c, tiles] ('channels-first') or [t², tiles, c] ('channels-last').
 * Sizes come from the input's shape at run time.
 */
function transformedTiles(
  g: GraphBuilder,
  x: string,
  channels: number,
  bb: Matrix,
  m: TileSize,
  layout: 'channels-first' | 'channels-last',
) {
  const t = m + 2;
  const hw = g.op('Slice', [g.op('Shape', [x]), g.int64s([2]), g.int64s([4])], {}, 'winograd_hw');
  const step = g.int64s([m]);
  const short = g.op('Mod', [g.op('Sub', [step, g.op('Mod', [hw, step])]), step]);
  const pads = g.op('Concat', [g.int64s([0, 0, 1, 1, 0, 0]), g.op('Add', [short, g.int64s([1, 1])])], { axis: int(0) });
  const padded = g.op('Pad', [x, pads], {}, 'winograd_padded');
  const shape = g.op(
    'Concat',
    [g.int64s([-1, 1]), g.op('Slice', [g.op('Shape', [padded]), g.int64s([2]), g.int64s([4])])],
    {
      axis: int(0),
    },
  );
  const planes = g.op('Reshape', [padded, shape], {}, 'winograd_planes');
  const kernel = g.constantOf(FLOAT, bb.flat(), [t * t, 1, t, t], 'winograd_bt');
  const tiles = g.op('Conv', [planes, kernel], { kernel_shape: ints([t, t]), strides: ints([m, m]) }, 'winograd_tiles');
  const grid = g.op('Slice', [g.op('Shape', [tiles]), g.int64s([2]), g.int64s([4])], {}, 'winograd_grid');
  const first = layout === 'channels-first';
  const moved = g.op('Transpose', [tiles], { perm: ints(first ? [1, 0, 2, 3] : [1, 2, 3, 0]) });
  const v = g.op('Reshape', [moved, g.int64s(first ? [t * t, channels, -1] : [t * t, -1, channels])], {}, 'winograd_v');
  return { v, grid };
}

const matrix = (g: GraphBuilder, m: Matrix, stem: string) =>
  g.constantOf(FLOAT, m.flat(), [m.length, m[0]!.length], stem);

/** The output [1, c, h, w] cropped from whole tiles to x's size (NCHW), plus the bias [c] if any. */
function crop(g: GraphBuilder, whole: string, x: string, channels: number, bias?: string) {
  const size = g.op('Slice', [g.op('Shape', [x]), g.int64s([2]), g.int64s([4])]);
  const cropped = g.op('Slice', [whole, g.int64s([0, 0]), size, g.int64s([2, 3])], {}, 'winograd_conv');
  if (!bias) return cropped;
  return g.op('Add', [cropped, g.op('Reshape', [bias, g.int64s([channels, 1, 1])])], {}, 'winograd_conv');
}

/**
 * x [1, in, h, w] convolved by the kernel whose transform is u [t², out, in] (and bias [out], if
 * any), padded by 1: [1, out, h, w].
 */
export function winogradConv(
  g: GraphBuilder,
  x: string,
  u: string,
  [outChannels, inChannels]: readonly [number, number],
  m: TileSize,
  bias?: string,
): string {
  const { t, bt, at } = transformsOf(m);
  const { v, grid } = transformedTiles(g, x, inChannels, kronecker(bt), m, 'channels-first');
  // M = U·V per tile position: [t², out, tiles]; then Y = (Aᵀ⊗Aᵀ)·M, the output tile's positions.
  const products = g.op('MatMul', [u, v], {}, 'winograd_m');
  const outRows = g.op('Reshape', [products, g.int64s([t * t, -1])]);
  const y = g.op('MatMul', [matrix(g, kronecker(at), 'winograd_at'), outRows]);
  const shape = g.op('Concat', [g.int64s([1, m * m * outChannels]), grid], { axis: int(0) });
  const blocks = g.op('Reshape', [y, shape]);
  const whole = g.op('DepthToSpace', [blocks], { blocksize: int(m), mode: string('DCR') }, 'winograd_y');
  return crop(g, whole, x, outChannels, bias);
}

/**
 * x [1, out, h, w] convolved by the flipped, channel-swapped kernel [in, out, 3, 3] of the one
 * whose transform is u [t², out, in] — the input gradient of `winogradConv` — padded by 1:
 * [1, in, h, w]. Per tile position (a, b) the product is U[π(a, b)]ᵀ·V[(a, b)] scaled; it runs
 * channels-last (Vᵀ·U) so that U is read as it is, the permutation and scale go into the
 * transforms.
 */
export function winogradConvFlipped(
  g: GraphBuilder,
  x: string,
  u: string,
  [outChannels, inChannels]: readonly [number, number],
  m: TileSize,
): string {
  const { t, bt, at, flip } = transformsOf(m);
  const positions = Array.from({ length: t * t }, (_, ab) => ab);
  const pi = (ab: number) => flip.row[Math.floor(ab / t)]! * t + flip.row[ab % t]!;
  const s = (ab: number) => flip.scale[Math.floor(ab / t)]! * flip.scale[ab % t]!;
  const btFull = kronecker(bt);
  const btBack = positions.map((ab) => btFull[pi(ab)]!);
  const atFull = kronecker(at);
  const atBack = atFull.map((row) => positions.map((ab) => row[pi(ab)]! * s(pi(ab))));
  const { v: w, grid } = transformedTiles(g, x, outChannels, btBack, m, 'channels-last');
  // N = W·U per tile position: [t², tiles, in]; Y = (Aᵀ⊗Aᵀ) permuted and scaled · N.
  const products = g.op('MatMul', [w, u], {}, 'winograd_m');
  const outRows = g.op('Reshape', [products, g.int64s([t * t, -1])]);
  const y = g.op('MatMul', [matrix(g, atBack, 'winograd_at_flipped'), outRows]);
  // [m, m, tiles down, tiles across, in] → [1, in, tiles down·m, tiles across·m].
  const shape = g.op('Concat', [g.int64s([m, m]), grid, g.int64s([inChannels])], { axis: int(0) });
  const blocks = g.op('Transpose', [g.op('Reshape', [y, shape])], { perm: ints([4, 2, 0, 3, 1]) });
  const size = g.op('Mul', [grid, g.int64s([m])]);
  const whole = g.op('Reshape', [blocks, g.op('Concat', [g.int64s([1, inChannels]), size], { axis: int(0) })]);
  return crop(g, whole, x, inChannels);
}
