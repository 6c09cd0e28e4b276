// Tiled evaluation, on the ONNX engine (the memory rows on another with --backend onnx-wasm):
// - accuracy: at --accuracy px (default 1024; 0 skips it), the costs and gradient of the tiled
//   evaluation against the whole image's, on the default layers, in this process;
// - memory and speed: peak memory and seconds per iteration of the real command at growing output
//   sizes for one tile size (the network's memory should follow the tile, not the output), each in
//   a fresh process with the peak.js preload, with Adam (its state is two images; L-BFGS's pairs
//   would grow with the output). With --max-memory the tile is the command's own choice. Beside
//   each peak: the memory guard's estimate for that run (the engine's model, as the command plans it).
//   node dist/bench/tiles.js [--accuracy 1024] [--sizes 1024,2048,4096] [--tile 512] [--iterations 2]
//                            [--max-memory 8G] [--backend onnx] [--out bench/results/tiles.json]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  checkMemory,
  createEngine,
  readImage,
  resolveRunSettings,
  scaleImage,
  TiledEvaluator,
  type Engine,
  type EngineName,
  type Objective,
} from '../src/index.js';
import { parseBytes } from '../src/core/settings.js';
import { CONTENT, machine, STYLE, table, WEIGHTS } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const sizes = option('--sizes', '1024,2048,4096').split(',').filter(Boolean).map(Number);
const tile = option('--tile', '512');
const iterations = option('--iterations', '2');
const maxMemory = option('--max-memory', '');
const outFile = option('--out', 'bench/results/tiles.json');
const accuracySize = Number(option('--accuracy', '1024'));
const backend = option('--backend', 'onnx') as EngineName;

const HERE = path.dirname(new URL(import.meta.url).pathname);
const BIN = path.resolve(HERE, '../../bin/nst');
const PEAK = path.resolve(HERE, 'peak.js');

interface Row {
  size: number;
  width: number;
  height: number;
  tiles: number;
  tileSize: string;
  peakMB: number;
  /** The memory guard's estimate of the peak, MB. */
  estimateMB: number;
  wasmHeapMB: number | null;
  secondsPerIteration: number;
  seconds: number;
}

type Event = {
  event: string;
  scale?: { tiles: number };
  elapsedMs?: number;
  iteration?: number;
  width?: number;
  height?: number;
};

async function run(size: number): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-tiles-'));
  const flags = ['--size', String(size), '--scales', '1', '--iterations', iterations, '--optimizer', 'adam'];
  flags.push('--converge', '0', '--backend', backend, '--json', ...(Number(iterations) > 1 ? ['--step', '1'] : []));
  flags.push(...(maxMemory ? ['--max-memory', maxMemory] : ['--tile-size', tile, '--no-memory-check']));
  const start = performance.now();
  const child = spawnSync(
    process.execPath,
    ['--import', PEAK, BIN, 'stylize', CONTENT, STYLE, '-o', path.join(dir, 'out.png'), ...flags],
    { encoding: 'utf8', env: { ...process.env, NST_WEIGHTS: WEIGHTS }, maxBuffer: 1 << 26 },
  );
  const seconds = (performance.now() - start) / 1000;
  fs.rmSync(dir, { recursive: true, force: true });
  const peak = child.stderr.split('\n').find((l) => l.startsWith('nst-peak '));
  if (child.status !== 0 || !peak)
    throw new Error(`--size ${size} exited with ${child.status}: ${child.stderr.trim()}`);
  const events = child.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);
  const progress = events.filter((e) => e.event === 'progress');
  const done = events.find((e) => e.event === 'done')!;
  // From the first iteration's report (the targets are made before it) to the last.
  const [first, last] = [progress[0]!, progress.at(-1)!];
  const measured = JSON.parse(peak.slice('nst-peak '.length)) as { peakRss: number; wasmHeapTouched: number | null };
  return {
    size,
    width: done.width!,
    height: done.height!,
    tiles: first.scale!.tiles,
    tileSize: maxMemory ? `auto (${maxMemory})` : tile,
    peakMB: Math.round(measured.peakRss / 2 ** 20),
    estimateMB: Math.round((await estimate(size)) / 2 ** 20),
    wasmHeapMB: measured.wasmHeapTouched === null ? null : Math.round(measured.wasmHeapTouched / 2 ** 20),
    secondsPerIteration: (last.elapsedMs! - first.elapsedMs!) / 1000 / (last.iteration! - first.iteration!),
    seconds,
  };
}

/** The engine the rows run on (for the memory guard's model) and the images' shapes, loaded on first use. */
const loaded: { engine?: Engine; shapes?: { content: readonly number[]; style: readonly number[] } } = {};

/** What the memory guard estimates for the run at `size`: with the tile asked, or its own under --max-memory. */
async function estimate(size: number): Promise<number> {
  const engine = (loaded.engine ??= await createEngine({ engine: backend, weights: WEIGHTS }));
  if (!loaded.shapes) {
    const [c, s] = [await readImage(CONTENT), await readImage(STYLE)];
    loaded.shapes = { content: c.shape, style: s.shape };
    tf.dispose([c, s]);
  }
  const shapes = loaded.shapes;
  const plan = {
    size,
    contentShape: shapes.content,
    styleShapes: [shapes.style],
    optimizer: 'adam' as const,
    tileSize: maxMemory ? undefined : Number(tile),
  };
  const budget = maxMemory
    ? { bytes: parseBytes(maxMemory)!, source: '--max-memory', heap: engine.memory.heapLimit }
    : { bytes: Infinity, source: 'none', heap: null };
  return checkMemory(plan, engine.memory, budget);
}

/** The default run's objective, from the settings table. */
const defaults = resolveRunSettings({}, 1);
const OBJECTIVE: Objective = {
  alpha: defaults.alpha,
  beta: defaults.beta,
  variation: defaults.var,
  styleLayers: defaults.styleLayers,
  contentLayers: defaults.contentLayers,
  styleLayerWeights: defaults.styleLayerWeights,
  pooling: defaults.pooling,
};

/** Relative errors of the tiled evaluation against the whole one, at an image between the photo and the painting. */
async function accuracy(size: number, tileSize: number) {
  const engine = await createEngine({ engine: 'onnx', weights: WEIGHTS });
  const [c, s] = [await readImage(CONTENT), await readImage(STYLE)];
  const content = scaleImage(c, size);
  const style = scaleImage(s, size);
  const [, h, w] = content.shape;
  const x = tf.tidy(
    () => tf.add(tf.mul(content, 0.6), tf.mul(tf.image.resizeBilinear(style, [h, w]), 0.4)) as tf.Tensor4D,
  );
  const images = { content, styles: [style], styleWeights: [1] };
  const whole = await engine.createEvaluator(OBJECTIVE, images);
  const a = await whole.evaluate(x);
  whole.dispose();
  const tiled = await TiledEvaluator.create(engine, OBJECTIVE, images, tileSize);
  const b = await tiled.evaluate(x);
  const [ga, gb] = [a.gradient.dataSync(), b.gradient.dataSync()];
  let [norm, diff, largest, worst] = [0, 0, 0, 0];
  for (let i = 0; i < ga.length; i++) {
    norm += ga[i]! ** 2;
    diff += (ga[i]! - gb[i]!) ** 2;
    largest = Math.max(largest, Math.abs(ga[i]!));
    worst = Math.max(worst, Math.abs(ga[i]! - gb[i]!));
  }
  const rel = (k: 'total' | 'content' | 'style') => Math.abs(b.costs[k] - a.costs[k]) / a.costs[k];
  const result = {
    size: `${w}×${h}`,
    tileSize,
    tiles: tiled.tileCount,
    total: rel('total'),
    content: rel('content'),
    style: rel('style'),
    gradientNorm: Math.sqrt(diff / norm),
    gradientMax: worst / largest,
  };
  tf.dispose([c, s, content, style, x, a.gradient, b.gradient]);
  tiled.dispose();
  engine.dispose();
  return result;
}

let accuracyResult = null;
if (accuracySize > 0) {
  process.stderr.write(`accuracy at ${accuracySize} px…\n`);
  accuracyResult = await accuracy(accuracySize, Number(tile));
  const e = (x: number) => x.toExponential(1);
  const r = accuracyResult;
  console.log(
    table(
      ['image', 'tile', 'tiles', 'total', 'content', 'style', 'gradient (‖Δ‖/‖g‖)', 'gradient (max |Δ| / max |g|)'],
      [
        [
          r.size,
          String(r.tileSize),
          String(r.tiles),
          e(r.total),
          e(r.content),
          e(r.style),
          e(r.gradientNorm),
          e(r.gradientMax),
        ],
      ],
    ) + '\n',
  );
}

const rows: Row[] = [];
for (const size of sizes) {
  process.stderr.write(`${size} px…\n`);
  rows.push(await run(size));
}
loaded.engine?.dispose();
const header = [
  'size',
  'image',
  'tile',
  'tiles',
  'peak RSS MB',
  'vs first',
  'estimate MB',
  'wasm heap MB',
  's / iteration',
  'wall s',
];
const lines = rows.map((r) => [
  String(r.size),
  `${r.width}×${r.height}`,
  r.tileSize,
  String(r.tiles),
  String(r.peakMB),
  (r.peakMB / rows[0]!.peakMB).toFixed(2),
  `${r.estimateMB} (${(((r.estimateMB - r.peakMB) / r.peakMB) * 100).toFixed(0)}%)`,
  r.wasmHeapMB === null ? '—' : String(r.wasmHeapMB),
  r.secondsPerIteration.toFixed(1),
  r.seconds.toFixed(0),
]);
console.log(`${machine()}\n\n${table(header, lines)}`);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  JSON.stringify(
    { machine: machine(), backend, date: new Date().toISOString(), accuracy: accuracyResult, rows },
    null,
    2,
  ) + '\n',
);
