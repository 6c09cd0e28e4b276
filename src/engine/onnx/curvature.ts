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

/** The holder; made by `onnxPairs`. */
export class OnnxPairs implements CurvaturePairs {
  private S = new Float32Array(0);
  private Y = new Float32Array(0);
  /** The image shape of the pairs; n = its size. */
  private shape: [number, number, number, number] = [1, 0, 0, 0];
  private n = 0;
  /** Rows in use, oldest pair first: a ring over the capacity's rows. */
  private order: number[] = [];
  /** The row the first pair goes to while none is held. */
  private start = 0;
  private readonly rho: Float64Array;
  /** R[a·m + b] = s_aᵀy_b, kept for row a older than row b. */
  private readonly R: Float64Array;
  /** Rows whose column of R is still to be computed (restored pairs). */
  private pending: number[] = [];

  constructor(
    readonly capacity: number,
    private readonly sessions: CurvatureSessions,
  ) {
    this.rho = new Float64Array(capacity);
    this.R = new Float64Array(capacity * capacity);
  }

  get length(): number {
    return this.order.length;
  }

  get offset(): number {
    return this.order[0] ?? this.start;
  }

  async push(s: tf.Tensor4D, y: tf.Tensor4D, rho: number): Promise<void> {
    const row = this.store(s, y, rho);
    try {
      await this.computeColumns([...this.pending, row]);
    } catch (error) {
      this.clear(); // a pair without its column of R must not be used
      throw error;
    }
    this.pending = [];
  }

  async times(q: tf.Tensor4D, scaling: tf.Tensor4D): Promise<tf.Tensor4D> {
    const k = this.order.length;
    if (k === 0) throw new RangeError('the two-loop recursion needs at least one pair');
    await this.computeColumns(this.pending);
    this.pending = [];
    const { sessions, n, order, rho, R, capacity } = this;
    const m = this.used;
    const qData = hostData(q);
    const [S, Y] = this.matrices(m);
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
      newest: floats(this.Y.subarray(newest * n, (newest + 1) * n), [1, n]),
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
    const r = await sessions.run('combine', { S, c: floats(Float32Array.from(c), [1, m]), z: middle['z']! });
    return fromHost(r['r']!.data as Float32Array, this.shape);
  }

  /** Views of the rows (not copies): a checkpoint writes them as they are. */
  list(): readonly StoredPair[] {
    const { n, shape } = this;
    const row = (M: Float32Array, r: number): HostVector => ({ data: M.subarray(r * n, (r + 1) * n), shape });
    return this.order.map((r) => ({ s: row(this.S, r), y: row(this.Y, r), rho: this.rho[r]! }));
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

  /** Writes a pair into the oldest row (or a free one); returns the row. */
  private store(s: tf.Tensor4D | HostVector, y: tf.Tensor4D | HostVector, rho: number): number {
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
  private allocate(shape: readonly number[]): void {
    this.clear();
    this.shape = shape as [number, number, number, number];
    this.n = shape.reduce((a, b) => a * b, 1);
    this.S = new Float32Array(this.capacity * this.n);
    this.Y = new Float32Array(this.capacity * this.n);
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

  /** The first `rows` rows of S and Y (rows not in use among them get weight 0). */
  private matrices(rows: number): [Ort.Tensor, Ort.Tensor] {
    const { S, Y, n } = this;
    return [floats(S.subarray(0, rows * n), [rows, n]), floats(Y.subarray(0, rows * n), [rows, n])];
  }

  /**
   * R's column of each row given: s_aᵀy_row for every row a (one pass over S each), over all the
   * capacity's rows (unwritten pages read as zeros) whatever the rows in use, for the same reason.
   */
  private async computeColumns(rows: readonly number[]): Promise<void> {
    if (rows.length === 0) return;
    const { n, capacity } = this;
    const [S] = this.matrices(capacity);
    for (const row of rows) {
      const y = floats(this.Y.subarray(row * n, (row + 1) * n), [n, 1]);
      const dots = (await this.sessions.run('rowDots', { M: S, v: y }))['dots']!.data as Float32Array;
      for (let a = 0; a < capacity; a++) this.R[a * capacity + row] = dots[a]!;
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
