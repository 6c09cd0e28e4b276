import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';

/** The shared VGG19 weights (CI sets NST_WEIGHTS; the default is the checkout's neighbour). */
export const WEIGHTS = path.resolve(process.env['NST_WEIGHTS'] ?? '../shared/weights/vgg19_notop_reconstructed.h5');
export const IMAGES = path.resolve(path.dirname(WEIGHTS), '../images');
export const BIN = path.resolve('bin/nst');

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

/** Relative difference, guarded for values near zero. */
export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}
