// The ONNX engine's memory model (src/engine/onnx/memory.ts) against real runs: each row runs the
// command with --backend onnx in a fresh process (bench/peak.ts reports its peak resident memory),
// the estimate for the same run is printed beside it, and the model's constants are fitted again.
//   node dist/bench/memory-onnx.js [--out bench/results/memory-onnx.json]
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  heldWeightBytes,
  networkBytes,
  ONNX_MEMORY_MODEL,
  onnxMemoryModel,
  readImage,
  scaledSize,
  selectBackend,
} from '../src/index.js';
import { CONTENT, line, machine, measurePeak, STYLE, table, type PeakResult, type PeakRun } from './common.js';

const args = process.argv.slice(2);
const outFile =
  args[args.indexOf('--out') + 1] && args.includes('--out')
    ? args[args.indexOf('--out') + 1]!
    : 'bench/results/memory-onnx.json';
const MiB = 2 ** 20;

const RUNS: PeakRun[] = [
  // Adam: the peak is reached by the second evaluation.
  ...[128, 256, 384, 512, 768, 1024].map((size) => ({ size, iterations: 2, backend: 'onnx' as const })),
  // L-BFGS with a history that fills in a few iterations, then a long one.
  ...[256, 512].map((size) => ({
    size,
    iterations: 6,
    optimizer: 'lbfgs' as const,
    history: 4,
    backend: 'onnx' as const,
  })),
  { size: 256, iterations: 55, optimizer: 'lbfgs', history: 50, backend: 'onnx' },
  // One thread.
  { size: 512, iterations: 2, backend: 'onnx', threads: 1 },
];

type Row = PeakRun & PeakResult & { height: number; width: number; styleHeight: number; styleWidth: number };

await selectBackend('cpu'); // this process only reads the images' sizes
const [content, style] = [await readImage(CONTENT), await readImage(STYLE)];
const rows: Row[] = [];
for (const run of RUNS) {
  const [height, width] = scaledSize(content.shape[0], content.shape[1], run.size);
  const [styleHeight, styleWidth] = scaledSize(style.shape[0], style.shape[1], run.size);
  process.stderr.write(`${run.size} px ${run.optimizer ?? 'adam'}${run.history ? ` history ${run.history}` : ''}…\n`);
  rows.push({ ...run, ...measurePeak(run), height, width, styleHeight, styleWidth });
}
content.dispose();
style.dispose();

const shapeOf = (r: Row) => ({
  height: r.height,
  width: r.width,
  styleSizes: [[r.styleHeight, r.styleWidth]] as [number, number][],
  optimizer: r.optimizer ?? 'adam',
  history: r.history ?? 100,
});
const estimates = rows.map((r) => onnxMemoryModel().estimate(shapeOf(r)).rss);

// Adam rows: peak = base + held weights + factor·outputs + (images + 2)·image; fit base and factor.
const m = ONNX_MEMORY_MODEL;
const image = (r: Row) => 12 * r.height * r.width;
const weights = heldWeightBytes();
const adam = rows.filter((r) => (r.optimizer ?? 'adam') === 'adam' && r.threads > 1);
const [a, factor] = line(
  adam.map((r) => [networkBytes(r.height, r.width).outputs, r.peakRss - (m.images + 2) * image(r)]),
);
const long = rows.filter((r) => (r.history ?? 0) >= 50);
const pairs = long.map((r) => {
  const without = a + factor * networkBytes(r.height, r.width).outputs + m.images * image(r);
  return (r.peakRss - without - m.lbfgsTemporaries * image(r)) / (2 * r.history! * image(r));
});
const fitted = {
  activationFactor: factor,
  baseMiB: (a - weights) / MiB,
  lbfgsPairFactor: pairs[0] ?? NaN,
};

const cells = rows.map((r, i) => [
  `${r.size} (${r.width}×${r.height})`,
  r.optimizer === 'lbfgs' ? `lbfgs, history ${r.history}` : 'adam',
  String(r.threads),
  String(r.iterations),
  (r.peakRss / MiB).toFixed(0),
  (estimates[i]! / MiB).toFixed(0),
  (((estimates[i]! - r.peakRss) / r.peakRss) * 100).toFixed(1),
  r.seconds.toFixed(0),
]);
console.log(`Machine: ${machine()}, ${new Date().toISOString().slice(0, 10)}\n`);
console.log(
  table(['size', 'optimizer', 'threads', 'iterations', 'peak RSS MiB', 'estimate MiB', 'error %', 's'], cells),
);
console.log('\nConstants fitted from these rows (ONNX_MEMORY_MODEL has them rounded):');
for (const [name, value] of Object.entries(fitted)) console.log(`  ${name}: ${value.toFixed(3)}`);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
const stored = rows.map((r, i) => ({ ...r, estimateRss: Math.round(estimates[i]!) }));
fs.writeFileSync(
  outFile,
  `${JSON.stringify({ machine: machine(), model: ONNX_MEMORY_MODEL, fitted, rows: stored }, null, 2)}\n`,
);
