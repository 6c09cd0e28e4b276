/**
 * L-BFGS's arithmetic on ONNX Runtime (the native build), on the CPU's threads or a GPU: the
 * pairs and the recursion (curvature.ts, device-pairs.ts), and the step's element-wise work as
 * four small graphs, each a few passes over image-sized vectors where TensorFlow.js' WebAssembly
 * backend does one op at a time on one thread. They compute what optim/lbfgs.ts's `tensorKernels` compute (its
 * constants, its comments say why).
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder, int } from '../graph/builder.js';
import type { Ort } from './runtime.js';
import { floats, fromHost, hostData, SessionSet, zeros } from './host.js';
import { curvatureModels, onnxPairs } from './curvature.js';
import { DEVICE_PAIR_OUTPUTS, devicePairModels, devicePairs } from './device-pairs.js';
import { GRADIENT_FLOOR, SQUARED_GRADIENT_DECAY } from '../../optim/lbfgs.js';
import type { CurvaturePairsFactory, LbfgsKernels, LbfgsRuntime } from '../../optim/types.js';

const VECTOR = [1, 'n'] as const;
const sumOf = (g: GraphBuilder, x: string) => g.op('ReduceSum', [x], { keepdims: int(0) });
const meanOf = (g: GraphBuilder, x: string) => g.op('ReduceMean', [x], { keepdims: int(0) });

/** v, the free mask, pg, its max-norm and H₀'s diagonal; `decay` 0 and `fresh` 1 (v = 0) at the first step. */
function projectModel(): Uint8Array {
  const g = new GraphBuilder('lbfgs_project');
  const [x, grad, v] = ['x', 'g', 'v'].map((name) => g.input(name, VECTOR));
  // 1 − decay comes in as its own input, rounded from float64 as TensorFlow.js' constant is.
  const next = g.op('Add', [
    g.op('Mul', [v!, g.input('decay', [])]),
    g.op('Mul', [g.op('Mul', [grad!, grad!]), g.input('fresh', [])]),
  ]);
  const outward = g.op('Or', [
    g.op('And', [g.op('LessOrEqual', [x!, g.scalar(0)]), g.op('Greater', [grad!, g.scalar(0)])]),
    g.op('And', [g.op('GreaterOrEqual', [x!, g.scalar(1)]), g.op('Less', [grad!, g.scalar(0)])]),
  ]);
  const free = g.op('Cast', [g.op('Not', [outward])], { to: int(1) });
  const pg = g.op('Mul', [grad!, free]);
  const size = g.op('Sqrt', [next]);
  const d = g.op('Reciprocal', [g.op('Add', [size, g.op('Mul', [meanOf(g, size), g.scalar(GRADIENT_FLOOR)])])]);
  g.output('squares', next, VECTOR);
  g.output('free', free, VECTOR);
  g.output('pg', pg, VECTOR);
  g.output('norm', g.op('ReduceMax', [g.op('Abs', [pg])], { keepdims: int(0) }), []);
  g.output('scaling', g.op('Div', [d, meanOf(g, d)]), VECTOR);
  return g.encode();
}

/** d = −free·r and gᵀd. */
function descentModel(): Uint8Array {
  const g = new GraphBuilder('lbfgs_descent');
  const d = g.op('Neg', [g.op('Mul', [g.input('r', VECTOR), g.input('free', VECTOR)])]);
  g.output('d', d, VECTOR);
  g.output('slope', sumOf(g, g.op('Mul', [g.input('g', VECTOR), d])), []);
  return g.encode();
}

/** P(x + t·d) and gᵀ(P(x + t·d) − x). */
function trialModel(): Uint8Array {
  const g = new GraphBuilder('lbfgs_trial');
  const x = g.input('x', VECTOR);
  const step = g.op('Mul', [g.input('d', VECTOR), g.input('t', [])]);
  const trial = g.op('Clip', [g.op('Add', [x, step]), g.scalar(0), g.scalar(1)]);
  g.output('trial', trial, VECTOR);
  g.output('decrease', sumOf(g, g.op('Mul', [g.input('g', VECTOR), g.op('Sub', [trial, x])])), []);
  return g.encode();
}

/** s, y and yᵀs, sᵀs, yᵀy. */
function pairModel(): Uint8Array {
  const g = new GraphBuilder('lbfgs_pair');
  const s = g.op('Sub', [g.input('xNext', VECTOR), g.input('x', VECTOR)]);
  const y = g.op('Sub', [g.input('gNext', VECTOR), g.input('g', VECTOR)]);
  g.output('s', s, VECTOR);
  g.output('y', y, VECTOR);
  g.output('ys', sumOf(g, g.op('Mul', [y, s])), []);
  g.output('ss', sumOf(g, g.op('Mul', [s, s])), []);
  g.output('yy', sumOf(g, g.op('Mul', [y, y])), []);
  return g.encode();
}

type Outputs = Ort.InferenceSession.ReturnType;

const kernelModels = () => ({
  project: projectModel(),
  descent: descentModel(),
  trial: trialModel(),
  pair: pairModel(),
});

/** Sessions that run at least the step's graphs. */
type KernelSessions = SessionSet<keyof ReturnType<typeof kernelModels>>;

/** The kernels, on sessions that their engine holds. */
export class OnnxKernels implements LbfgsKernels {
  constructor(private readonly sessions: KernelSessions) {}

  async project(x: tf.Tensor4D, g: tf.Tensor4D, v: tf.Tensor4D | null) {
    const out = await this.sessions.run('project', {
      x: vector(x),
      g: vector(g),
      v: v ? vector(v) : floats(zeros(g.size), [1, g.size]), // g² enters v fully at the first step
      decay: floats(Float32Array.of(v ? SQUARED_GRADIENT_DECAY : 0), []),
      fresh: floats(Float32Array.of(v ? 1 - SQUARED_GRADIENT_DECAY : 1), []),
    });
    const [free, pg, next, scaling] = ['free', 'pg', 'squares', 'scaling'].map((name) => image(out, name, g.shape));
    return { v: next!, free: free!, pg: pg!, norm: scalar(out, 'norm'), scaling: scaling! };
  }

  async descent(r: tf.Tensor4D, free: tf.Tensor4D, g: tf.Tensor4D) {
    const out = await this.sessions.run('descent', { r: vector(r), free: vector(free), g: vector(g) });
    return { d: image(out, 'd', g.shape), slope: scalar(out, 'slope') };
  }

  async trial(x: tf.Tensor4D, d: tf.Tensor4D, t: number, g: tf.Tensor4D) {
    const out = await this.sessions.run('trial', {
      x: vector(x),
      d: vector(d),
      t: floats(Float32Array.of(t), []),
      g: vector(g),
    });
    return { trial: image(out, 'trial', x.shape), decrease: scalar(out, 'decrease') };
  }

  async pair(x: tf.Tensor4D, g: tf.Tensor4D, xNext: tf.Tensor4D, gNext: tf.Tensor4D) {
    const feeds = { x: vector(x), g: vector(g), xNext: vector(xNext), gNext: vector(gNext) };
    const out = await this.sessions.run('pair', feeds);
    const [ys, ss, yy] = ['ys', 'ss', 'yy'].map((name) => scalar(out, name));
    return { s: image(out, 's', x.shape), y: image(out, 'y', x.shape), ys: ys!, ss: ss!, yy: yy! };
  }
}

const vector = (t: tf.Tensor) => floats(hostData(t), [1, t.size]);
const image = (out: Outputs, name: string, shape: readonly number[]) =>
  fromHost(out[name]!.data as Float32Array, shape);
const scalar = (out: Outputs, name: string) => (out[name]!.data as Float32Array)[0]!;

/**
 * L-BFGS on ONNX Runtime, its pairs and its kernels on one set of sessions held until `release`
 * (the engine's dispose): on the native build's CPU threads (the pairs in host memory,
 * curvature.ts), or on the WebGPU provider (the pairs on the device, device-pairs.ts; the step's
 * vectors cross the bus, its history never does).
 */
export class OnnxLbfgs implements LbfgsRuntime {
  private readonly sessions: { release(): void };
  readonly kernels: OnnxKernels;
  readonly pairs: CurvaturePairsFactory;

  constructor(threads: number, device: 'cpu' | 'webgpu' = 'cpu') {
    if (device === 'webgpu') {
      const placement = { threads, providers: ['webgpu'], deviceOutputs: DEVICE_PAIR_OUTPUTS };
      const sessions = new SessionSet(() => ({ ...devicePairModels(), ...kernelModels() }), placement);
      [this.sessions, this.kernels, this.pairs] = [sessions, new OnnxKernels(sessions), devicePairs(sessions)];
    } else {
      const sessions = new SessionSet(() => ({ ...curvatureModels(), ...kernelModels() }), { threads });
      [this.sessions, this.kernels, this.pairs] = [sessions, new OnnxKernels(sessions), onnxPairs(sessions)];
    }
  }

  release(): void {
    this.sessions.release();
  }
}
