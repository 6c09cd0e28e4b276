// `npm run bench`: seconds per optimisation iteration of nst on each available engine and of
// the same seed algorithm in PyTorch, at several sizes, in one run on this machine.
//   node dist/bench/speed.js [--sizes 128,256,512] [--out bench/results/speed.json]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultThreads, selectBackend } from '../src/index.js';
import { ensureTorch, machine, PEER_SCRIPT, PYTHON, preparePeerData, runJson, table } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const sizes = option('--sizes', '128,256,512').split(',').map(Number);
const outFile = option('--out', 'bench/results/speed.json');
/** Timed iterations and warm-up iterations per size: enough for a stable median, not more. */
const plan = (size: number) => (size <= 128 ? [5, 2] : size <= 256 ? [4, 1] : [3, 1]);

const threads = defaultThreads();
// The ONNX engine also with every convolution direct (NST_CONV=direct): what Winograd's buys.
const configs: { backend: string; threads: number; maxSize: number; conv?: string }[] = [
  { backend: 'onnx', threads, maxSize: Infinity },
  { backend: 'onnx', threads, maxSize: Infinity, conv: 'direct' },
  ...(threads > 1 ? [{ backend: 'onnx', threads: 1, maxSize: Infinity }] : []),
  { backend: 'onnx-wasm', threads, maxSize: Infinity },
];

// This process only scales the peer's input images: the plain backend does, quietly.
await selectBackend('cpu');
const torchProblem = ensureTorch();
if (torchProblem) process.stderr.write(`PyTorch column skipped: ${torchProblem}\n`);
const iterationScript = path.join(path.dirname(new URL(import.meta.url).pathname), 'iteration.js');
const results: Record<string, unknown>[] = [];
for (const size of sizes) {
  const [iterations, warmup] = plan(size) as [number, number];
  let peer: Record<string, unknown> | null = null;
  if (!torchProblem) {
    const data = await preparePeerData(size);
    process.stderr.write(`size ${size}: pytorch…\n`);
    try {
      peer = await runJson(PYTHON, [
        PEER_SCRIPT,
        '--data',
        data,
        '--iterations',
        String(iterations),
        '--warmup',
        String(warmup),
      ]);
      results.push({ size, ...peer });
    } catch (error) {
      process.stderr.write(`pytorch failed: ${(error as Error).message}\n`);
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  }
  for (const config of configs.filter((c) => size <= c.maxSize)) {
    const label = config.conv ? `${config.backend} (${config.conv} convolutions)` : config.backend;
    process.stderr.write(`size ${size}: ${label} with ${config.threads} thread(s)…\n`);
    try {
      const [n, w] = plan(size) as [number, number];
      const row = await runJson(
        process.execPath,
        [iterationScript, config.backend, String(config.threads), String(size), String(n), String(w)],
        config.conv ? { NST_CONV: config.conv } : {},
      );
      results.push({
        size,
        ...row,
        engine: config.conv ? `${row['engine']} (${config.conv} convolutions)` : row['engine'],
        ratioToPytorch: peer ? (row['secondsPerIteration'] as number) / (peer['secondsPerIteration'] as number) : null,
      });
    } catch (error) {
      process.stderr.write(`${config.backend} failed: ${(error as Error).message}\n`);
    }
  }
}

const fmt = (x: unknown, digits = 3) => (typeof x === 'number' ? x.toPrecision(digits) : '—');
const rows = results.map((r) => [
  String(r['size']),
  String(r['engine']),
  String(r['threads']),
  fmt(r['secondsPerIteration']),
  r['engine'] === 'pytorch' ? '1' : fmt(r['ratioToPytorch']),
  fmt(r['peakRssMB'], 4),
  r['tensorGrowth'] === undefined ? '—' : String(r['tensorGrowth']),
  fmt(r['firstCost'], 7),
]);
console.log(`machine: ${machine()}`);
console.log(
  table(
    ['size', 'engine', 'threads', 's / iteration', '× PyTorch', 'peak RSS MB', 'tensor growth', 'cost at iteration 0'],
    rows,
  ),
);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  JSON.stringify({ date: new Date().toISOString(), machine: machine(), results }, null, 2) + '\n',
);
console.log(`written: ${outFile}`);
