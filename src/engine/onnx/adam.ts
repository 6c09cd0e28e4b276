/**
 * Adam's update on ONNX Runtime, as one graph on the WebGPU device where the evaluation runs
 * there: the operations of optim/adam.ts's `tensorAdam` one for one, so that on the CPU provider
 * (where the tests check it, and where TensorFlow.js stays faster: engine.ts) it gives the same
 * float32 numbers.
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from '../graph/builder.js';
import { floats, fromHost, hostData, SessionSet, zeros, type SetPlacement } from './host.js';
import type { AdamKernels, AdamStep } from '../../optim/types.js';

const VECTOR = [1, 'n'] as const;

/** m₊, v₊ and the clipped image; the coefficients come in rounded to float32, as TensorFlow.js' are. */
function adamModel(): Uint8Array {
  const g = new GraphBuilder('adam');
  const grad = g.input('g', VECTOR);
  const decayed = (moment: string, beta: string, update: string) =>
    g.op('Add', [g.op('Mul', [g.input(moment, VECTOR), g.input(beta, [])]), update]);
  const m = decayed('m', 'beta1', g.op('Mul', [grad, g.input('oneMinusBeta1', [])]));
  const v = decayed('v', 'beta2', g.op('Mul', [g.op('Mul', [grad, grad]), g.input('oneMinusBeta2', [])]));
  const denominator = g.op('Add', [g.op('Sqrt', [v]), g.input('epsilon', [])]);
  const update = g.op('Div', [g.op('Mul', [m, g.input('rate', [])]), denominator]);
  const image = g.op('Clip', [g.op('Sub', [g.input('x', VECTOR), update]), g.scalar(0), g.scalar(1)]);
  g.output('m_next', m, VECTOR);
  g.output('v_next', v, VECTOR);
  g.output('image', image, VECTOR);
  return g.encode();
}

/** Adam's kernels on their own session, placed as the engine's evaluation is; `release` with the engine. */
export class OnnxAdam implements AdamKernels {
  private readonly sessions: SessionSet<'adam'>;

  constructor(placement: SetPlacement) {
    this.sessions = new SessionSet(() => ({ adam: adamModel() }), placement);
  }

  async step(x: tf.Tensor4D, g: tf.Tensor4D, moments: { m: tf.Tensor4D; v: tf.Tensor4D } | null, c: AdamStep) {
    // Zero moments at the first step: 0·β + (1 − β)·u is (1 − β)·u exactly, as TensorFlow.js starts.
    const vector = (t: tf.Tensor | null) => floats(t ? hostData(t) : zeros(g.size), [1, g.size]);
    const scalar = (value: number) => floats(Float32Array.of(value), []);
    const out = await this.sessions.run('adam', {
      x: vector(x),
      g: vector(g),
      m: vector(moments?.m ?? null),
      v: vector(moments?.v ?? null),
      beta1: scalar(c.beta1),
      beta2: scalar(c.beta2),
      oneMinusBeta1: scalar(1 - c.beta1),
      oneMinusBeta2: scalar(1 - c.beta2),
      rate: scalar(c.rate),
      epsilon: scalar(c.epsilon),
    });
    moments?.m.dispose(); // consumed, as the kernels' contract says
    moments?.v.dispose();
    const image = (name: string) => fromHost(out[name]!.data as Float32Array, x.shape);
    return { image: image('image'), m: image('m_next'), v: image('v_next') };
  }

  release(): void {
    this.sessions.release();
  }
}
