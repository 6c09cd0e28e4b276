// L-BFGS's two-loop recursion (H·q over k pairs of image-sized vectors) on ONNX Runtime's CPU
// threads, written three ways as one graph, against today's TensorFlow.js WebAssembly arithmetic
// (src/optim/lbfgs.ts inverseHessianTimes). Issue 28 asks whether the optimiser's arithmetic
// should move into ONNX Runtime on the CPU too.
//   node dist/bench/two-loop.js [--pairs 100] [--height 384] [--width 512] [--runs 5]
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { GraphBuilder, int } from '../src/engine/graph/builder.js';
import { selectBackend } from '../src/engine/tfjs/backend.js';
import { inverseHessianTimes } from '../src/optim/lbfgs.js';
import { numberOption } from './options.js';

const [K, H, W, RUNS] = [
  numberOption('pairs', 100),
  numberOption('height', 384),
  numberOption('width', 512),
  numberOption('runs', 5),
];
const N = H * W * 3;
type Form = 'separate inputs, Mul + ReduceSum' | 'separate inputs, MatMul dots' | 'one [k, n] input each, Gather rows';

/** The recursion as one graph: pairs oldest first, ρ an input, H₀ = γ·D with γ from the newest pair. */
function twoLoopModel(form: Form): Uint8Array {
  const g = new GraphBuilder('two_loop');
  const stacked = form.startsWith('one');
  const matmul = form.includes('MatMul');
  const vec = (name: string) => g.input(name, matmul ? [1, N] : [N]);
  const q = vec('q');
  const d = vec('D');
  const rho = g.input('rho', [K]);
  const [S, Y] = stacked ? [g.input('S', [K, N]), g.input('Y', [K, N])] : [null, null];
  const s: string[] = [];
  const y: string[] = [];
  for (let i = 0; i < K; i++) {
    s.push(stacked ? g.op('Gather', [S!, g.int64s([i], [])], { axis: int(0) }) : vec(`s${i}`));
    y.push(stacked ? g.op('Gather', [Y!, g.int64s([i], [])], { axis: int(0) }) : vec(`y${i}`));
  }
  const dot = (a: string, b: string) =>
    matmul
      ? g.op('Reshape', [g.op('MatMul', [a, g.op('Transpose', [b], { perm: { ints: [1, 0] } })]), g.int64s([], [0])])
      : g.op('ReduceSum', [g.op('Mul', [a, b])], { keepdims: int(0) });
  const rhoAt = (i: number) => g.op('Gather', [rho, g.int64s([i], [])], { axis: int(0) });
  let r = q;
  const alphas: string[] = [];
  for (let i = K - 1; i >= 0; i--) {
    alphas[i] = g.op('Mul', [dot(s[i]!, r), rhoAt(i)]);
    r = g.op('Sub', [r, g.op('Mul', [y[i]!, alphas[i]!])]);
  }
  const inverseGamma = g.op('Mul', [dot(y[K - 1]!, g.op('Mul', [d, y[K - 1]!])), rhoAt(K - 1)]);
  r = g.op('Div', [g.op('Mul', [d, r]), inverseGamma]);
  for (let i = 0; i < K; i++) {
    const beta = g.op('Mul', [dot(y[i]!, r), rhoAt(i)]);
    r = g.op('Add', [r, g.op('Mul', [s[i]!, g.op('Sub', [alphas[i]!, beta])])]);
  }
  g.output('r', r);
  return g.encode();
}

const random = (n: number, seed: number) => {
  let x = seed;
  return Float32Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
};
const pairs = Array.from({ length: K }, (_, i) => ({ s: random(N, 2 * i + 1), y: random(N, 2 * i + 2) }));
const q = random(N, 9999);
const d = random(N, 7777).map((x) => 1 + x);
const rho = new Float32Array(K).fill(1e-3);

async function timeOrt(form: Form): Promise<{ ms: number; r: Float32Array }> {
  const session = await ort.InferenceSession.create(twoLoopModel(form), {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const dims = form.includes('MatMul') ? [1, N] : [N];
  const tensor = (data: Float32Array, shape = dims) => new ort.Tensor('float32', data, shape);
  const feeds: Record<string, ort.Tensor> = { q: tensor(q), D: tensor(d), rho: tensor(rho, [K]) };
  if (form.startsWith('one')) {
    const stack = (key: 's' | 'y') => {
      const all = new Float32Array(K * N);
      pairs.forEach((p, i) => all.set(p[key], i * N));
      return tensor(all, [K, N]);
    };
    [feeds['S'], feeds['Y']] = [stack('s'), stack('y')];
  } else pairs.forEach((p, i) => ([feeds[`s${i}`], feeds[`y${i}`]] = [tensor(p.s), tensor(p.y)]));
  await session.run(feeds);
  const start = performance.now();
  let out: ort.InferenceSession.ReturnType = {};
  for (let i = 0; i < RUNS; i++) out = await session.run(feeds);
  const ms = (performance.now() - start) / RUNS;
  await session.release();
  return { ms, r: out['r']!.data as Float32Array };
}

async function timeTfjs(): Promise<{ ms: number; r: Float32Array }> {
  await selectBackend('wasm', 1);
  const shape: [number, number, number, number] = [1, H, W, 3];
  const held = pairs.map((p) => ({ s: tf.tensor4d(p.s, shape), y: tf.tensor4d(p.y, shape), rho: rho[0]! }));
  const [qt, dt] = [tf.tensor4d(q, shape), tf.tensor4d(d, shape)];
  inverseHessianTimes(qt, held, dt).dispose();
  const start = performance.now();
  let r: tf.Tensor4D | null = null;
  for (let i = 0; i < RUNS; i++) {
    r?.dispose();
    r = inverseHessianTimes(qt, held, dt);
  }
  const ms = (performance.now() - start) / RUNS;
  const data = r!.dataSync() as Float32Array;
  tf.dispose([r!, qt, dt, ...held.flatMap((p) => [p.s, p.y])]);
  return { ms, r: data };
}

const reference = await timeTfjs();
console.log(`two-loop recursion, ${K} pairs of ${H}×${W}×3, 2 threads, mean of ${RUNS}`);
console.log('| runtime | ms | × today | max relative difference |');
console.log('| --- | --- | --- | --- |');
console.log(`| TensorFlow.js wasm (today) | ${reference.ms.toFixed(1)} | 1.00 | — |`);
const scale = reference.r.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
for (const form of [
  'separate inputs, Mul + ReduceSum',
  'separate inputs, MatMul dots',
  'one [k, n] input each, Gather rows',
] as Form[]) {
  const { ms, r } = await timeOrt(form);
  const diff = r.reduce((m, x, i) => Math.max(m, Math.abs(x - reference.r[i]!)), 0) / scale;
  console.log(
    `| ONNX Runtime CPU, ${form} | ${ms.toFixed(1)} | ${(ms / reference.ms).toFixed(2)} | ${diff.toExponential(1)} |`,
  );
}
