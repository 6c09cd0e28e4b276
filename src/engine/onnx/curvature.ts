/**
 * L-BFGS's pairs on ONNX Runtime's threads: the s's and y's as the rows of two matrices S and Y
 * ([m, n], a ring of rows), and H·q by the two-loop recursion rewritten over their dot products
 * (vector-free L-BFGS: Chen, Wang & Zhou, "Large-scale L-BFGS using MapReduce", NIPS 2014).
 *
 * The recursion is bound by memory traffic: each pair is read twice per direction, and one
 * element-wise op at a time (TensorFlow.js, or the recursion unrolled as ONNX ops) reads the
 * running vector as often again. Here the sequential part shrinks to scalars: with σ = Sᵀq and the
 * dot products R[a][b] = s_aᵀy_b (a older than b, one new column per pair pushed), the first loop's
 * αᵢ = ρᵢ(σᵢ − Σ_{j newer} αⱼ R[i][j]) needs no vector; then z = γ·D·(q − Yᵀα) and Yz, and the second
 * loop's βᵢ = ρᵢ(Yzᵢ + Σ_{j older} cⱼ R[j][i]) with cⱼ = αⱼ − βⱼ; H·q = z + Sᵀc. So a direction is
 * four passes over the history as matrix–vector products (ONNX Runtime's MatMul, at the memory's
 * speed on every thread) and a push is one more (Sᵀy_new). The scalar loops run in float64.
 */
import * as tf from '@tensorflow/tfjs';
import type { Ort } from './runtime.js';
import { GraphBuilder } from '../graph/builder.js';
import { floats, fromHost, hostData, SessionSet } from './host.js';
import {
  isHostVector,
  type CurvaturePairs,
  type CurvaturePairsFactory,
  type HostVector,
  type StoredPair,
} from '../../optim/types.js';

/** M·v for a [k, n] matrix and a vector: the k dot products of its rows with v. */
function rowDotsModel(): Uint8Array {
  const g = new GraphBuilder('row_dots');
  g.output('dots', g.op('MatMul', [g.input('M', ['k', 'n']), g.input('v', ['n', 1])]), ['k', 1]);
  return g.encode();
}

/**
 * The middle of the recursion: z = D·(q − αᵀY) / (ρ·yᵀDy), y the newest pair's (γ = sᵀy / yᵀDy),
 * and Yz, the dot products of the y's with it (Y read twice in one run).
 */
function scaledModel(): Uint8Array {
  const g = new GraphBuilder('two_loop_middle');
  const Y = g.input('Y', ['k', 'n']);
  const D = g.input('D', [1, 'n']);
  const newest = g.input('newest', [1, 'n']);
  const inverseGamma = g.op('Mul', [
    g.op('ReduceSum', [g.op('Mul', [g.op('Mul', [newest, D]), newest])], { keepdims: { int: 0 } }),
    g.input('rho', []),
  ]);
  const r = g.op('Sub', [g.input('q', [1, 'n']), g.op('MatMul', [g.input('alpha', [1, 'k']), Y])]);
  const z = g.op('Div', [g.op('Mul', [D, r]), inverseGamma]);
  g.output('z', z, [1, 'n']);
  // A Reshape, not a Transpose: ONNX Runtime fuses Transpose + MatMul into a kernel 8 ms slower here.
  g.output('Yz', g.op('MatMul', [Y, g.op('Reshape', [z, g.int64s([-1, 1])])]), ['k', 1]);
  return g.encode();
}

/** The end of the recursion: H·q = z + cᵀS. */
function combineModel(): Uint8Array {
  const g = new GraphBuilder('two_loop_end');
  const Sc = g.op('MatMul', [g.input('c', [1, 'k']), g.input('S', ['k', 'n'])]);
  g.output('r', g.op('Add', [g.input('z', [1, 'n']), Sc]), [1, 'n']);
  return g.encode();
}

/** The recursion's graphs, for the engine's `SessionSet`. */
export const curvatureModels = () => ({ rowDots: rowDotsModel(), scaled: scaledModel(), combine: combineModel() });
/** Sessions that run at least the recursion's graphs. */
export type CurvatureSessions = SessionSet<keyof ReturnType<typeof curvatureModels>>;

/** The pairs as the recursion reads them: S and Y ([m, n], m ≥ the rows in use), ρ and R by row. */
interface PairRows {
  S: Ort.Tensor;
  Y: Ort.Tensor;
  /** The newest pair's y, [1, n]. */
  newestY: Ort.Tensor;
  /** Rows in use, oldest pair first. */
  order: readonly number[];
  rho: Float64Array;
  /** R[a·capacity + b] = s_aᵀy_b for row a older than row b. */
  R: Float64Array;
  capacity: number;
}

/**
 * H·q over the pairs (see the file's comment): four matrix–vector passes on `sessions`, the
 * loops over scalars in float64. Rows of S and Y not in use get weight 0.
 */
async function vectorFreeTimes(
  sessions: CurvatureSessions,
  { S, Y, newestY, order, rho, R, capacity }: PairRows,
  q: tf.Tensor4D,
  scaling: tf.Tensor4D,
): Promise<Float32Array> {
  const [m, n] = S.dims as [number, number];
  const k = order.length;
  const qData = hostData(q);
  const sigma = (await sessions.run('rowDots', { M: S, v: floats(qData, [n, 1]) }))['dots']!.data as Float32Array;
  const alpha = new Float64Array(m); // by row; 0 for rows not in use
  for (let a = k - 1; a >= 0; a--) {
    const i = order[a]!;
    let t = sigma[i]!;
    for (let b = a + 1; b < k; b++) t -= alpha[order[b]!]! * R[i * capacity + order[b]!]!;
    alpha[i] = rho[i]! * t;
  }
  const newest = order[k - 1]!;
  const middle = await sessions.run('scaled', {
    Y,
    D: floats(hostData(scaling), [1, n]),
    newest: newestY,
    rho: floats(Float32Array.of(rho[newest]!), []),
    q: floats(qData, [1, n]),
    alpha: floats(Float32Array.from(alpha), [1, m]),
  });
  const Yz = middle['Yz']!.data as Float32Array;
  const c = new Float64Array(m);
  for (let a = 0; a < k; a++) {
    const i = order[a]!;
    let t = Yz[i]!;
    for (let b = 0; b < a; b++) t += c[order[b]!]! * R[order[b]! * capacity + i]!;
    c[i] = alpha[i]! - rho[i]! * t;
  }
  const z = middle['z']!;
  try {
    const r = await sessions.run('combine', { S, c: floats(Float32Array.from(c), [1, m]), z });
    return r['r']!.data as Float32Array;
  } finally {
    z.dispose(); // on a device, z stays there between the two runs
  }
}

/**
 * The pairs' rows in host memory: S and Y as a ring of `capacity` rows, ρ and R by row. The
 * holders add where the products run (`OnnxPairs`: here; `DevicePairs`: on a GPU, from a copy).
 */
export abstract class PairRing implements CurvaturePairs {
  protected S = new Float32Array(0);
  protected Y = new Float32Array(0);
  /** The image shape of the pairs; n = its size. */
  protected shape: [number, number, number, number] = [1, 0, 0, 0];
  protected n = 0;
  /** Rows in use, oldest pair first: a ring over the capacity's rows. */
  protected order: number[] = [];
  /** The row the first pair goes to while none is held. */
  private start = 0;
  protected readonly rho: Float64Array;
  /** R[a·capacity + b] = s_aᵀy_b, kept for row a older than row b. */
  protected readonly R: Float64Array;
  /** Rows stored whose column of R (and a holder's copy) is still to be made. */
  private pending: number[] = [];

  constructor(readonly capacity: number) {
    this.rho = new Float64Array(capacity);
    this.R = new Float64Array(capacity * capacity);
  }

  /** Makes R's columns of these rows (oldest first), and the holder's copy of them. */
  protected abstract make(rows: readonly number[]): Promise<void>;

  /** S and Y where the holder's products run. */
  protected abstract matrices(): [Ort.Tensor, Ort.Tensor];

  /** The sessions that run the recursion's graphs. */
  protected abstract readonly sessions: CurvatureSessions;

  async push(s: tf.Tensor4D, y: tf.Tensor4D, rho: number): Promise<void> {
    const row = this.store(s, y, rho); // first: a pair of another size starts the ring (and `pending`) afresh
    this.pending.push(row);
    await this.settle();
  }

  async times(q: tf.Tensor4D, scaling: tf.Tensor4D): Promise<tf.Tensor4D> {
    const k = this.order.length;
    if (k === 0) throw new RangeError('the two-loop recursion needs at least one pair');
    await this.settle();
    const [S, Y] = this.matrices();
    const newestY = floats(this.row(this.Y, this.order[k - 1]!), [1, this.n]);
    const { order, rho, R, capacity } = this;
    const r = await vectorFreeTimes(this.sessions, { S, Y, newestY, order, rho, R, capacity }, q, scaling);
    return fromHost(r, this.shape);
  }

  get length(): number {
    return this.order.length;
  }

  get offset(): number {
    return this.order[0] ?? this.start;
  }

  /** Views of the rows (not copies): a checkpoint writes them as they are. */
  list(): readonly StoredPair[] {
    const { shape } = this;
    return this.order.map((r) => ({
      s: { data: this.row(this.S, r), shape },
      y: { data: this.row(this.Y, r), shape },
      rho: this.rho[r]!,
    }));
  }

  restore(pairs: readonly StoredPair[], offset = 0): void {
    this.clear();
    const first = pairs[0]?.s;
    if (first && sizeOf(first) !== this.n) this.allocate(first.shape);
    this.start = offset % this.capacity;
    for (const { s, y, rho } of pairs.slice(-this.capacity)) this.pending.push(this.store(s, y, rho));
  }

  clear(): void {
    this.order = [];
    this.pending = [];
    this.start = 0;
  }

  dispose(): void {
    this.clear();
    [this.S, this.Y, this.n] = [new Float32Array(0), new Float32Array(0), 0];
  }

  /** Makes what the pending rows still lack; a failure drops every pair (one without its column of R must not be used). */
  private async settle(): Promise<void> {
    const rows = this.pending;
    this.pending = [];
    try {
      await this.make(rows);
    } catch (error) {
      this.clear();
      throw error;
    }
  }

  /** Row r of S or Y (a view). */
  protected row(M: Float32Array, r: number): Float32Array {
    return M.subarray(r * this.n, (r + 1) * this.n);
  }

  /** Row `row`'s column of R: s_aᵀy_row for every row a. */
  protected setColumn(row: number, dots: Float32Array): void {
    for (let a = 0; a < this.capacity; a++) this.R[a * this.capacity + row] = dots[a]!;
  }

  /** Writes a pair into the oldest row (or a free one); returns the row. */
  protected store(s: tf.Tensor4D | HostVector, y: tf.Tensor4D | HostVector, rho: number): number {
    if (sizeOf(s) !== this.n) this.allocate(s.shape);
    const { order, capacity } = this;
    const row = order.length < capacity ? (this.offset + order.length) % capacity : order.shift()!;
    this.S.set(valuesOf(s), row * this.n);
    this.Y.set(valuesOf(y), row * this.n);
    this.rho[row] = rho;
    this.order.push(row);
    return row;
  }

  /** Room for `capacity` pairs of this shape (its pages taken only as rows are written). */
  protected allocate(shape: readonly number[]): void {
    this.dispose();
    this.shape = shape as [number, number, number, number];
    this.n = shape.reduce((a, b) => a * b, 1);
    this.S = new Float32Array(this.capacity * this.n);
    this.Y = new Float32Array(this.capacity * this.n);
  }
}

/** The holder whose products run on the CPU's threads, over the host's rows; made by `onnxPairs`. */
export class OnnxPairs extends PairRing {
  constructor(
    capacity: number,
    protected readonly sessions: CurvatureSessions,
  ) {
    super(capacity);
  }

  /**
   * The rows up to the last in use: the first `length` ones until the ring wraps, then all. A
   * restored holder (same pairs, same offset) has the same: ONNX Runtime's matrix–vector product
   * rounds a row's dot product differently for another number of rows, and a resumed run must
   * compute exactly as the interrupted one did.
   */
  private get used(): number {
    return this.offset === 0 ? this.order.length : this.capacity;
  }

  /** The rows up to the last in use of S and Y (rows not in use among them get weight 0). */
  protected matrices(rows = this.used): [Ort.Tensor, Ort.Tensor] {
    const { S, Y, n } = this;
    return [floats(S.subarray(0, rows * n), [rows, n]), floats(Y.subarray(0, rows * n), [rows, n])];
  }

  /**
   * R's column of each row given: s_aᵀy_row for every row a (one pass over S each), over all the
   * capacity's rows (unwritten pages read as zeros) whatever the rows in use, for the same reason.
   */
  protected async make(rows: readonly number[]): Promise<void> {
    const { n, capacity } = this;
    const [S] = this.matrices(capacity);
    for (const row of rows) {
      const y = floats(this.row(this.Y, row), [n, 1]);
      this.setColumn(row, (await this.sessions.run('rowDots', { M: S, v: y }))['dots']!.data as Float32Array);
    }
  }
}

const sizeOf = (v: tf.Tensor | HostVector) => (isHostVector(v) ? v.data.length : v.size);
const valuesOf = (v: tf.Tensor | HostVector) => (isHostVector(v) ? v.data : hostData(v));

/** Pairs held for L-BFGS on ONNX Runtime's CPU threads, running on these sessions. */
export const onnxPairs =
  (sessions: CurvatureSessions): CurvaturePairsFactory =>
  (capacity) =>
    new OnnxPairs(capacity, sessions);
