// The memory model of src/core/memory.ts against real runs: each row runs the command in a fresh
// process (bench/peak.ts reports its peak resident memory and wasm heap), then the estimate for the
// same run is printed beside it, and the model's constants are fitted again from the rows.
//   node dist/bench/memory.js [--quick] [--out bench/results/memory.json]
//   node dist/bench/memory.js --from bench/results/memory.json   (no runs: the stored rows again)
// --quick leaves out the long L-BFGS runs (their history of 50–100 pairs takes 100+ iterations)
// and the JavaScript backend at 128 px.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  estimateMemory,
  estimateWasmHeap,
  MEMORY_MODEL,
  networkBytes,
  readImage,
  scaledSize,
  selectBackend,
  type RunShape,
} from '../src/index.js';
import { CONTENT, line, machine, measurePeak, STYLE, table, type PeakResult, type PeakRun } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const quick = args.includes('--quick');
const from = option('--from', '');
const outFile = option('--out', 'bench/results/memory.json');

const RUNS: (PeakRun & { long?: boolean })[] = [
  // Adam: the peak is reached by the second evaluation (m and v exist from the first step).
  ...[64, 128, 192, 256, 384, 512].map((size) => ({ size, iterations: 2 })),
  // L-BFGS with a history that fills within a few iterations, then with long histories.
  ...[64, 128, 256, 384].map((size) => ({ size, iterations: 6, optimizer: 'lbfgs' as const, history: 4 })),
  { size: 192, iterations: 105, optimizer: 'lbfgs', history: 100, long: true },
  { size: 256, iterations: 55, optimizer: 'lbfgs', history: 50, long: true },
  // The single-threaded wasm build, and the plain JavaScript backend (slow: one iteration).
  { size: 64, iterations: 2, threads: 1 },
  { size: 256, iterations: 2, threads: 1 },
  { size: 64, iterations: 1, backend: 'cpu' },
  { size: 128, iterations: 1, backend: 'cpu', long: true },
];

type Row = PeakRun & PeakResult & { height: number; width: number; styleHeight: number; styleWidth: number };

const MiB = 2 ** 20;
const mib = (bytes: number | null) => (bytes === null ? '—' : (bytes / MiB).toFixed(0));
const error = (estimate: number, measured: number | null) =>
  measured ? `${(((estimate - measured) / measured) * 100).toFixed(1)}` : '—';

function shapeOf(row: Row): RunShape & { backend: string; threads?: number } {
  return {
    height: row.height,
    width: row.width,
    styleSizes: [[row.styleHeight, row.styleWidth]],
    optimizer: row.optimizer ?? 'adam',
    history: row.history ?? 100,
    backend: row.backend ?? 'wasm',
    threads: row.threads,
  };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** The model's constants fitted again from the measured rows (to compare with MEMORY_MODEL). */
function fit(rows: Row[]): Record<string, number> {
  const m = MEMORY_MODEL;
  const wasm = rows.filter((r) => (r.backend ?? 'wasm') === 'wasm');
  const adam = wasm.filter((r) => (r.optimizer ?? 'adam') === 'adam');
  const image = (r: Row) => 12 * r.height * r.width;
  const weights = networkBytes(1, 1).weights;
  // Heap = base + copies·weights + factor·outputs + (images + Adam's 2)·image: fit base and factor.
  const [a, factor] = line(
    adam.map((r) => [networkBytes(r.height, r.width).outputs, r.wasmHeapTouched! - (m.images + 2) * image(r)]),
  );
  const heapWithoutState = (r: Row) => a + factor * networkBytes(r.height, r.width).outputs + m.images * image(r);
  // Long histories only: a few pairs are lost in the noise of the heap's growth steps.
  const long = wasm.filter((r) => r.optimizer === 'lbfgs' && (r.history ?? 0) >= 50);
  const pairs = long.map(
    (r) => (r.wasmHeapTouched! - heapWithoutState(r) - m.lbfgsTemporaries * image(r)) / (2 * r.history! * image(r)),
  );
  // The JavaScript backend: peak = base + copies·weights + factor·outputs + (images + 2)·image.
  const cpu = rows.filter((r) => r.backend === 'cpu');
  const [nativeBase, nativeFactor] =
    cpu.length >= 2
      ? line(
          cpu.map((r) => [
            networkBytes(r.height, r.width).outputs,
            r.peakRss - m.nativeWeightCopies * weights - (m.images + 2) * image(r),
          ]),
        )
      : [NaN, NaN];
  return {
    activationFactor: factor,
    wasmHeapBaseMiB: (a - m.wasmWeightCopies * weights) / MiB,
    wasmOutsideHeapMiB: mean(wasm.filter((r) => r.threads > 1).map((r) => r.peakRss - r.wasmHeapTouched!)) / MiB,
    wasmOutsideHeapOneThreadMiB:
      mean(wasm.filter((r) => r.threads === 1).map((r) => r.peakRss - r.wasmHeapTouched!)) / MiB,
    lbfgsPairFactor: pairs.length ? mean(pairs) : NaN,
    nativeActivationFactor: nativeFactor,
    nativeBaseMiB: nativeBase / MiB,
  };
}

let rows: Row[];
let when = new Date().toISOString().slice(0, 10);
let where = machine();
if (from) {
  const stored = JSON.parse(fs.readFileSync(from, 'utf8')) as { rows: Row[]; date: string; machine: string };
  ({ rows, date: when, machine: where } = stored);
} else {
  await selectBackend('cpu'); // this process only reads the images' sizes
  const [content, style] = [await readImage(CONTENT), await readImage(STYLE)];
  rows = [];
  for (const run of RUNS.filter((r) => !(quick && r.long))) {
    const { long: _, ...peakRun } = run;
    const [height, width] = scaledSize(content.shape[0], content.shape[1], run.size);
    const [styleHeight, styleWidth] = scaledSize(style.shape[0], style.shape[1], run.size);
    process.stderr.write(
      `${run.size} px ${run.optimizer ?? 'adam'}${run.history ? ` history ${run.history}` : ''} ${run.backend ?? 'wasm'}${run.threads ? ` ${run.threads} thread` : ''}…\n`,
    );
    rows.push({ ...peakRun, ...measurePeak(peakRun), height, width, styleHeight, styleWidth });
  }
  content.dispose();
  style.dispose();
  // Kept at once: the measurements are the expensive part.
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify({ machine: where, date: when, rows }, null, 2)}\n`);
}

const estimates = rows.map((r) => ({
  rss: estimateMemory(shapeOf(r)),
  heap: r.wasmHeapTouched === null ? null : estimateWasmHeap(shapeOf(r)),
}));
const header = [
  'size',
  'optimizer',
  'backend',
  'iterations',
  'peak RSS MiB',
  'estimate MiB',
  'error %',
  'wasm heap MiB',
  'heap estimate MiB',
  'heap error %',
  's',
];
const cells = rows.map((r, i) => {
  const { rss, heap } = estimates[i]!;
  return [
    `${r.size} (${r.width}×${r.height})`,
    r.optimizer === 'lbfgs' ? `lbfgs, history ${r.history}` : 'adam',
    r.backend === 'cpu' ? 'cpu' : `wasm, ${r.threads} thread${r.threads === 1 ? '' : 's'}`,
    String(r.iterations),
    mib(r.peakRss),
    mib(rss),
    error(rss, r.peakRss),
    mib(r.wasmHeapTouched),
    mib(heap),
    heap === null ? '—' : error(heap, r.wasmHeapTouched),
    r.seconds.toFixed(0),
  ];
});
console.log(`Machine: ${where}, ${when}\n`);
console.log(table(header, cells));
const fitted = fit(rows);
console.log('\nConstants fitted from these rows (MEMORY_MODEL has them rounded):');
for (const [name, value] of Object.entries(fitted)) console.log(`  ${name}: ${value.toFixed(3)}`);
const worst = Math.max(...rows.map((r, i) => Math.abs(estimates[i]!.rss - r.peakRss) / r.peakRss));
console.log(`\nLargest error of the peak RSS estimate: ${(worst * 100).toFixed(1)}%`);
// The measurements with the estimates of the model as it is now (a --from run recomputes them).
const stored = rows.map((r, i) => {
  const {
    estimateRss: _,
    estimateWasmHeap: __,
    ...measured
  } = r as Row & { estimateRss?: number; estimateWasmHeap?: number };
  return {
    ...measured,
    estimateRss: Math.round(estimates[i]!.rss),
    estimateWasmHeap: estimates[i]!.heap && Math.round(estimates[i]!.heap!),
  };
});
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  `${JSON.stringify({ machine: where, date: when, model: MEMORY_MODEL, fitted, rows: stored }, null, 2)}\n`,
);
