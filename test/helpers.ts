import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/tfjs/backend.js';

/** The shared VGG19 weights (CI sets NST_WEIGHTS; the default is the checkout's neighbour). */
export const WEIGHTS = path.resolve(process.env['NST_WEIGHTS'] ?? '../shared/weights/vgg19_notop_reconstructed.h5');
export const IMAGES = path.resolve(path.dirname(WEIGHTS), '../images');
export const BIN = path.resolve('bin/nst');

/** What a run of the command gave: its exit code (null if a signal ended it) and its output. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nst args` with the shared weights (and `env`) and waits for it to end. */
export function nst(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NST_WEIGHTS: WEIGHTS, ...env },
    timeout: 300_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Where a run's environment and standard output differ from the defaults. */
export interface RunOptions {
  /** Over the environment (with NST_WEIGHTS set to the shared weights). */
  env?: NodeJS.ProcessEnv;
  /** A file that stdout is opened on (`> /dev/full`), instead of a pipe. */
  stdout?: string;
}

/**
 * Runs `nst args` with the shared weights without blocking, so that several can run at once;
 * `onStdout` sees the standard output so far after each chunk, and the process (to signal it).
 */
export function nstAsync(
  args: string[],
  onStdout?: (stdout: string, child: ChildProcess) => void,
  options: RunOptions = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const out = options.stdout === undefined ? 'pipe' : fs.openSync(options.stdout, 'w');
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NST_WEIGHTS: WEIGHTS, ...options.env },
      stdio: ['ignore', out, 'pipe'],
      timeout: 300_000,
    });
    if (typeof out === 'number') fs.closeSync(out);
    const run: Run = { code: null, stdout: '', stderr: '' };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      run.stdout += chunk;
      onStdout?.(run.stdout, child);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ...run, code }));
  });
}

/** Runs `nst args` and sends `signal` once stdout shows `Cost at iteration <at>:`. */
export function interrupt(args: string[], at: number, signal: NodeJS.Signals = 'SIGINT'): Promise<Run> {
  let sent = false;
  return nstAsync(args, (stdout, child) => {
    if (!sent && stdout.includes(`Cost at iteration ${at}:`)) {
      sent = true;
      child.kill(signal);
    }
  });
}

/** The backend that runs here and in CI, chosen the way the command chooses it. */
export async function useWasm(): Promise<void> {
  if (tf.getBackend() !== 'wasm') await selectBackend('wasm');
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nst-test-'));
}

/** Deterministic pseudo-random numbers in [lo, hi) so that failures can be reproduced. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/** Largest |a − b| over the largest |b|: an error relative to the reference's scale. */
export function relativeMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  let scale = 0;
  let error = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    error = Math.max(error, Math.abs(a[i]! - b[i]!));
  }
  return error / scale;
}

/** Relative difference, guarded for values near zero. */
export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

/** Deterministic pseudo-random numbers in [0, 1) (a small LCG), so failures are reproducible. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function randomImage(h: number, w: number, c: number, seed: number): Float64Array {
  const next = lcg(seed);
  return Float64Array.from({ length: h * w * c }, () => next() * 255);
}

/** Asserts that every value of `actual` is within `tol` of `expected`. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tol, `${what}: max abs error ${worst} > ${tol}`);
}

/**
 * A full garbage collection: arrays that native code handed to JavaScript (ONNX Runtime's
 * outputs) are freed only when collected, so a memory-growth check collects first.
 */
export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
let gc: (() => void) | undefined;

/** Where Mesa's Vulkan drivers register lavapipe, the software one (.ci/run installs it). */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

/**
 * Points Vulkan's loader at lavapipe alone, in this process (before its first WebGPU session)
 * and in the commands it starts: the webgpu tests run on the same driver on any machine, GPU or
 * none. Fails when lavapipe is not installed.
 */
export function useLavapipe(): void {
  assert.ok(
    fs.existsSync(LAVAPIPE_ICD),
    `no software Vulkan driver (${LAVAPIPE_ICD}): install mesa-vulkan-drivers from bookworm-backports`,
  );
  process.env['VK_ICD_FILENAMES'] = LAVAPIPE_ICD;
}
