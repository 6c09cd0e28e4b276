// Time to quality: the wall time each strategy needs to reach the cost that the seed's Adam
// (lr 0.01) reaches after 1000 iterations, at 256 px, tubingen × starry_night.
//   node dist/bench/quality.js [--size 256] [--adam-iterations 1000] [--only lbfgs,adam] [--cap 1] [--backend onnx-wasm] [--out bench/results/quality.json]
//   node dist/bench/quality.js --vs-seed [--sizes 256,512] [--pairs tubingen.jpg:starry_night.jpg,a.jpg:b.jpg@512,…] [--keep DIR]
//     [--variants "--iterations 30,185;--scales 1"] [--pictures-only] [--out bench/results/vs-seed.json]
// (the default command against --preset seed, bench/vs-seed.ts; each variant is the default
// command with those flags added, one more row per pair and size; every row with the
// readability of its output, bench/readability.ts; --pictures-only leaves the seed out).
// --cap F stops a strategy that has not reached the target after F × PyTorch's time (its row then
// says so, with the best cost it had), so that a slow strategy cannot hold the machine for an hour.
// The target comes from PyTorch running the seed algorithm (the same function: its cost at
// iteration 0 agrees with nst's to about 1e-4); each nst strategy runs until it gets there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  createEngine,
  defaultThreads,
  ENGINE_NAMES,
  readImage,
  selectBackend,
  stylize,
  type EngineName,
  type StylizeOptions,
} from '../src/index.js';
import { defaultVsSeed } from './vs-seed.js';
import {
  CONTENT,
  ensureTorch,
  machine,
  PEER_SCRIPT,
  preparePeerData,
  PYTHON,
  runJson,
  STYLE,
  table,
  WEIGHTS,
} from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
// --vs-seed: only the default command against --preset seed (no PyTorch), at --sizes, for
// --pairs content:style[@size+size] (a pair's own sizes after @).
if (args.includes('--vs-seed')) {
  const sizes = option('--sizes', '256,512').split(',').map(Number);
  const pairs = option('--pairs', 'tubingen.jpg:starry_night.jpg')
    .split(',')
    .map((pair) => {
      const [images, own] = pair.split('@') as [string, string | undefined];
      const [content, style] = images.split(':') as [string, string];
      return { content, style, sizes: own ? own.split('+').map(Number) : sizes };
    });
  const variants = option('--variants', '')
    .split(';')
    .map((flags) => flags.trim().split(/\s+/).filter(Boolean))
    .filter((flags) => flags.length > 0);
  const out = option('--out', 'bench/results/vs-seed.json');
  await defaultVsSeed(pairs, variants, option('--keep', '') || null, out, !args.includes('--pictures-only'));
  process.exit(0);
}
const size = Number(option('--size', '256'));
const adamIterations = Number(option('--adam-iterations', '1000'));
const outFile = option('--out', 'bench/results/quality.json');
const cap = Number(option('--cap', '1'));
// The engine nst runs on: onnx (ONNX Runtime's native build) or onnx-wasm (its WebAssembly build).
const backend = option('--backend', 'onnx') as EngineName;
if (!ENGINE_NAMES.includes(backend)) throw new Error(`--backend must be one of ${ENGINE_NAMES.join(', ')}`);
// Loaded first so that an engine that is not installed fails now, not after PyTorch's quarter hour.
const engine = await createEngine({ engine: backend, threads: defaultThreads(), weights: WEIGHTS });
const tensors = tf.getBackend(); // the TensorFlow.js backend the engine runs beside

await selectBackend('cpu'); // only to scale the peer's inputs; nst runs on `engine` below
const torchProblem = ensureTorch();
if (torchProblem) throw new Error(`the target comes from the PyTorch peer: ${torchProblem}`);
const data = await preparePeerData(size);
process.stderr.write(`pytorch adam, ${adamIterations} iterations…\n`);
const peer = await runJson(PYTHON, [
  PEER_SCRIPT,
  '--data',
  data,
  '--iterations',
  String(adamIterations),
  '--warmup',
  '0',
  '--trace',
]);
const trace = peer['trace'] as [number, number][];
const target = Math.min(...trace.map(([, cost]) => cost));
const peerSeconds = trace.find(([, cost]) => cost <= target)![0];

/**
 * The field's default algorithm on the same machine: torch.optim.LBFGS as neural-style-pt runs
 * it (history 100, no tolerances), without and with its strong-Wolfe line search, judged on the
 * cost of the clamped image it would write; stopped at cap × PyTorch Adam's time.
 */
async function torchLbfgs(optimizer: 'lbfgs' | 'lbfgs-wolfe'): Promise<Record<string, unknown>> {
  process.stderr.write(`pytorch ${optimizer}…\n`);
  const args = [
    PEER_SCRIPT,
    '--data',
    data,
    '--iterations',
    '5000',
    '--warmup',
    '0',
    '--trace',
    '--optimizer',
    optimizer,
  ];
  const run = await runJson(PYTHON, [...args, '--seconds', String(cap * peerSeconds)]);
  const points = run['trace'] as [number, number][];
  const reached = points.findIndex(([, cost]) => cost <= target);
  return {
    strategy: `pytorch ${optimizer === 'lbfgs' ? 'L-BFGS' : 'L-BFGS, strong Wolfe'} (clamped image)`,
    seconds: reached >= 0 ? points[reached]![0] : null,
    evaluations: reached >= 0 ? reached + 1 : points.length,
    reached: reached >= 0,
    bestCost: Math.min(...points.map(([, cost]) => cost)),
  };
}
const only = option('--only', '').split(',').filter(Boolean);
const peers = only.length ? [] : [await torchLbfgs('lbfgs'), await torchLbfgs('lbfgs-wolfe')];
fs.rmSync(data, { recursive: true, force: true });

const strategies: [string, StylizeOptions][] = [
  ['nst adam', { optimizer: 'adam', iterations: adamIterations + 200 }],
  ['nst lbfgs', { optimizer: 'lbfgs', iterations: 1000 }],
  [
    'nst coarse-to-fine adam (64,128,256)',
    { optimizer: 'adam', scales: [64, 128], iterations: [600, 300, adamIterations + 200] },
  ],
  ['nst coarse-to-fine lbfgs (64,128,256)', { optimizer: 'lbfgs', scales: [64, 128], iterations: [150, 75, 1000] }],
];
// --only lbfgs,coarse: run only the nst strategies whose names contain one of these words (no PyTorch L-BFGS).
const rows: Record<string, unknown>[] = [
  {
    strategy: 'pytorch adam',
    seconds: peerSeconds,
    evaluations: trace.findIndex(([, c]) => c <= target) + 1,
    reached: true,
    bestCost: target,
  },
  ...peers,
];
await tf.setBackend(tensors);
const content = await readImage(CONTENT);
const style = await readImage(STYLE);
for (const [name, options] of strategies.filter(([n]) => only.length === 0 || only.some((word) => n.includes(word)))) {
  process.stderr.write(`${name}…\n`);
  const abort = new AbortController();
  let reachedAt: { seconds: number; evaluations: number } | null = null;
  let evaluations = 0;
  let bestCost = Infinity;
  const start = Date.now();
  const [image] = await stylize(style, content, {
    preset: 'seed', // the strategies' own settings over the seed's (no convergence stop)
    ...options,
    size,
    engine,
    signal: abort.signal,
    onProgress: (event) => {
      evaluations += 1;
      const last = event.scale.index === event.scale.count;
      if (last) bestCost = Math.min(bestCost, event.costs.total);
      if (last && !reachedAt && event.costs.total <= target) {
        reachedAt = { seconds: (Date.now() - start) / 1000, evaluations };
        abort.abort();
      }
      if ((Date.now() - start) / 1000 > cap * peerSeconds) abort.abort();
    },
  });
  image.dispose();
  const reached = reachedAt as { seconds: number; evaluations: number } | null;
  rows.push({
    strategy: name,
    seconds: reached?.seconds ?? null,
    evaluations: reached?.evaluations ?? evaluations,
    reached: Boolean(reached),
    bestCost,
  });
}
tf.dispose([content, style]);
const engineName = engine.info.name;
engine.dispose();

const fmt = (x: unknown) =>
  typeof x === 'number' ? x.toPrecision(3) : `not reached in ${(cap * peerSeconds).toPrecision(3)}`;
console.log(
  `machine: ${machine()}; nst on ${engineName}; target: cost ${target.toExponential(4)} (PyTorch Adam, ${adamIterations} iterations, ${size} px)`,
);
console.log(
  table(
    ['strategy', 'seconds to target', '× PyTorch Adam', 'iterations (all scales)', 'best cost'],
    rows.map((r) => [
      String(r['strategy']),
      fmt(r['seconds']),
      typeof r['seconds'] === 'number' ? fmt((r['seconds'] as number) / peerSeconds) : `> ${cap}`,
      String(r['evaluations']),
      typeof r['bestCost'] === 'number' ? (r['bestCost'] as number).toExponential(4) : '—',
    ]),
  ),
);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  JSON.stringify(
    { date: new Date().toISOString(), machine: machine(), backend: engineName, size, target, rows },
    null,
    2,
  ) + '\n',
);
console.log(`written: ${outFile}`);
