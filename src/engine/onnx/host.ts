/**
 * Vectors crossing between TensorFlow.js tensors and ONNX Runtime's sessions, and the sessions of
 * the optimisers' small graphs: L-BFGS's arithmetic (curvature.ts, lbfgs.ts) reads the same
 * tensors several times a step, so a tensor made from a session's output remembers that host
 * array instead of copying itself out of the WebAssembly heap again.
 */
import * as tf from '@tensorflow/tfjs';
import { ort, type Ort } from './runtime.js';
import { createSession, providersOf } from './session.js';

const hostArrays = new WeakMap<tf.Tensor, Float32Array>();

/** The tensor's values as a host array (not to be written). */
export function hostData(t: tf.Tensor): Float32Array {
  if (t.isDisposed) throw new Error('Tensor is disposed.');
  return hostArrays.get(t) ?? (t.dataSync() as Float32Array);
}

/** A tensor of a session's output, which remembers it. */
export function fromHost(data: Float32Array, shape: readonly number[]): tf.Tensor4D {
  const t = tf.tensor4d(data, shape as [number, number, number, number]);
  hostArrays.set(t, data);
  return t;
}

let zeroArray = new Float32Array(0);

/** n zeros, for a graph's input that starts at 0 (shared: no session writes its inputs). */
export function zeros(n: number): Float32Array {
  if (zeroArray.length !== n) zeroArray = new Float32Array(n);
  return zeroArray;
}

/** A float32 ONNX Runtime tensor over a host array (not copied). */
export const floats = (data: Float32Array, dims: readonly number[]): Ort.Tensor =>
  new ort.Tensor('float32', data, dims);

/** Where a set's sessions run: the CPU's threads, or a GPU provider with outputs kept on the device. */
export interface SetPlacement {
  threads: number;
  /** Default: the loaded build's CPU provider. */
  providers?: readonly string[];
  /** By model, the outputs that stay on the device. */
  deviceOutputs?: Readonly<Record<string, readonly string[]>>;
}

/** A session per model, placed as asked. */
async function startSessions(
  models: readonly (readonly [string, Uint8Array])[],
  { threads, providers = providersOf('cpu'), deviceOutputs = {} }: SetPlacement,
): Promise<Ort.InferenceSession[]> {
  const settingsOf = (name: string) => ({ threads, providers, deviceOutputs: deviceOutputs[name] });
  const started = await Promise.allSettled(
    models.map(async ([name, model]) => (await createSession(model, settingsOf(name))).session),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const sessions = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (!failed) return sessions;
  await Promise.all(sessions.map((session) => session.release()));
  throw failed.reason;
}

/**
 * Small graphs' sessions, by name, started at first use (a failed start is
 * tried again next time) and held until `release`, after which they cannot run: an engine holds
 * one set for all its runs.
 */
export class SessionSet<Name extends string> {
  private sessions: Promise<Record<Name, Ort.InferenceSession>> | null = null;
  private released = false;

  constructor(
    private readonly models: () => Record<Name, Uint8Array>,
    private readonly placement: SetPlacement,
  ) {}

  async run(name: Name, feeds: Record<string, Ort.Tensor>): Promise<Ort.InferenceSession.ReturnType> {
    if (this.released) throw new Error('the sessions were released with their engine');
    if (!this.sessions) {
      const models = Object.entries(this.models()) as [Name, Uint8Array][];
      this.sessions = startSessions(models, this.placement).then(
        (all) => Object.fromEntries(models.map(([key], i) => [key, all[i]!])) as Record<Name, Ort.InferenceSession>,
      );
      this.sessions.catch(() => (this.sessions = null));
    }
    return (await this.sessions)[name].run(feeds);
  }

  release(): void {
    const sessions = this.sessions;
    this.sessions = null;
    this.released = true;
    void sessions
      ?.then((all) => Promise.all(Object.values<Ort.InferenceSession>(all).map((s) => s.release())))
      .catch(() => {});
  }
}
