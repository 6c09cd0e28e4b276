// What the benchmarks share: the inputs, the PyTorch peer, and child processes that report JSON.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NST, readConvWeights, readImage, scaleImage, VGG19_CONV_SPECS } from '../src/index.js';

export const WEIGHTS = path.resolve(process.env['NST_WEIGHTS'] ?? '../shared/weights/vgg19_notop_reconstructed.h5');
export const IMAGES = path.resolve(path.dirname(WEIGHTS), '../images');
export const CONTENT = path.join(IMAGES, 'tubingen.jpg');
export const STYLE = path.join(IMAGES, 'starry_night.jpg');
const HERE = path.dirname(new URL(import.meta.url).pathname);
/** Debian's interpreter, where python3-torch installs (a python3 earlier on PATH may not see it). */
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
/** The peer script sits in bench/ of the source tree (this file runs from dist/bench/). */
export const PEER_SCRIPT = path.resolve(HERE, '../../bench/peer_torch.py');
/** The command, and the preload that reports a process's peak memory (both from dist/bench/). */
const BIN = path.resolve(HERE, '../../bin/nst');
const PEAK_PRELOAD = new URL('./peak.js', import.meta.url).href;

/** Runs `node script args…` or `python3 …` (with `env` added) and returns the last JSON line it printed. */
export function runJson(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NST_WEIGHTS: WEIGHTS, ...env },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      if (code !== 0 || !line) reject(new Error(`${path.basename(args[0] ?? command)} exited with ${code}`));
      else resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
}

/**
 * Makes PyTorch available: Debian's python3-torch, with the threaded OpenBLAS so that its matrix
 * products are not the reference BLAS. Installs them if missing and allowed; returns why not.
 */
export function ensureTorch(): string | null {
  const works = () => {
    try {
      execFileSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (works()) return null;
  if (process.getuid?.() !== 0)
    return 'PyTorch is not installed (apt-get install python3-torch libopenblas0-pthread as root)';
  process.stderr.write('installing python3-torch for the PyTorch column (Debian packages)…\n');
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', 'python3-torch', 'libopenblas0-pthread'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
      execFileSync('apt-get', ['install', '-y', '-qq', 'python3-torch', 'libopenblas0-pthread'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch (error) {
      return `PyTorch could not be installed (${(error as Error).message.split('\n')[0]})`;
    }
  }
  return works() ? null : 'PyTorch was installed but does not import';
}

/**
 * Writes what the peer needs into a temporary directory: the content and style images scaled by
 * nst's own scaleImage (so both engines start from the same pixels) and the VGG19 weights up to
 * the content layer, all as raw float32.
 */
export async function preparePeerData(size: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-bench-'));
  const layers = [...NST.styleLayers, NST.contentLayer];
  const last = Math.max(...layers.map((name) => VGG19_CONV_SPECS.findIndex((s) => s.name === name)));
  const specs = VGG19_CONV_SPECS.slice(0, last + 1);
  const weights = await readConvWeights(WEIGHTS, specs);
  const out = fs.openSync(path.join(dir, 'weights.bin'), 'w');
  for (const w of weights) {
    fs.writeSync(out, new Uint8Array(w.kernel.buffer, w.kernel.byteOffset, w.kernel.byteLength));
    fs.writeSync(out, new Uint8Array(w.bias.buffer, w.bias.byteOffset, w.bias.byteLength));
  }
  fs.closeSync(out);
  const meta: Record<string, unknown> = {
    layers: specs,
    styleLayers: NST.styleLayers,
    contentLayer: NST.contentLayer,
    alpha: 1e4,
    beta: 1,
    var: 10,
  };
  for (const [name, file] of [
    ['content', CONTENT],
    ['style', STYLE],
  ] as const) {
    const raw = await readImage(file);
    const scaled = scaleImage(raw, size);
    fs.writeFileSync(path.join(dir, `${name}.bin`), scaled.dataSync());
    meta[name] = { shape: scaled.shape.slice(1, 3) };
    tf.dispose([raw, scaled]);
  }
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  return dir;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares line y = a + b·x. */
export function line(points: [number, number][]): [number, number] {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const b = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return [my - b * mx, b];
}

/** A markdown table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export interface PeakRun {
  size: number;
  iterations: number;
  optimizer?: 'adam' | 'lbfgs';
  history?: number;
  backend?: 'onnx' | 'onnx-wasm';
  /** Threads of the engine (default: the command's default, all cores up to 8). */
  threads?: number;
}

export interface PeakResult {
  /** Peak resident set of the whole process (VmHWM), bytes. */
  peakRss: number;
  /** Size of the wasm heap at exit (its largest size), bytes; null on other backends. */
  wasmHeap: number | null;
  /** Resident pages of the wasm heap at exit (the most it ever used), bytes; null on other backends. */
  wasmHeapTouched: number | null;
  /** The threads the backend ran with, from the command's `backend:` line. */
  threads: number;
  seconds: number;
}

/**
 * Runs the real command (`nst stylize`, tubingen × starry_night, output in a temporary directory)
 * in a fresh process with the peak.js preload, and returns the peak memory it reports. L-BFGS runs
 * with tolerance 0 so that it does every iteration (and fills its history).
 */
export function measurePeak(run: PeakRun): PeakResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-memory-'));
  const args = ['--import', PEAK_PRELOAD, BIN, 'stylize', CONTENT, STYLE, '-o', path.join(dir, 'out.png')];
  args.push('--preset', 'seed', '--size', String(run.size), '--iterations', String(run.iterations));
  args.push('--optimizer', run.optimizer ?? 'adam');
  args.push('--lbfgs-history', String(run.history ?? 100), '--tolerance', '0', '--backend', run.backend ?? 'onnx');
  args.push('--no-memory-check'); // measured, not guarded
  if (run.threads) args.push('--threads', String(run.threads));
  const start = performance.now();
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, NST_WEIGHTS: WEIGHTS } });
  const seconds = (performance.now() - start) / 1000;
  fs.rmSync(dir, { recursive: true, force: true });
  const line = child.stderr.split('\n').find((l) => l.startsWith('nst-peak '));
  if (child.status !== 0 || !line)
    throw new Error(`nst stylize --size ${run.size} exited with ${child.status}: ${child.stderr.trim()}`);
  // "backend: onnx (onnxruntime-node 1.23.2, cpu execution provider, 2 threads)".
  const threads = Number(/^backend: onnx(?:-wasm)? \(.*, (\d+) threads?\)$/m.exec(child.stderr)?.[1] ?? 1);
  const report = JSON.parse(line.slice('nst-peak '.length)) as Omit<PeakResult, 'threads' | 'seconds'>;
  return { ...report, threads, seconds };
}
